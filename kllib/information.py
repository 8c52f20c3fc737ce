r"""Joint entropy, conditional entropy and mutual information of a discrete joint table.

A joint distribution of two discrete variables :math:`X` and :math:`Y` is a table
``joint[..., i, j]`` = :math:`p(x_i, y_j)`: the **last two axes** hold the table (rows index
:math:`X`, columns index :math:`Y`), leading axes are a batch of tables, and each table sums
to 1. This is ``axis=-1`` of the rest of kllib with one more axis: the distribution lives in
the trailing axes and every function reduces over them.

Conventions at the edges (Cover & Thomas 2006, ch. 2): :math:`0 \log 0 = 0`, so cells with
:math:`p(x, y) = 0` contribute nothing; a row (or column) of zeros is an outcome that never
occurs and changes nothing. Every quantity here is finite for a valid table.

NumPy in gives NumPy out (float64 for lists); torch in gives a differentiable tensor. The
functions are built on :func:`kllib.entropy` and :func:`kllib.kl`.
"""
from __future__ import annotations

import numpy as np

__all__ = ["mutual_information", "joint_entropy", "conditional_entropy"]


def _is_torch(x) -> bool:
    return type(x).__module__.startswith("torch") and hasattr(x, "detach")


def _prepare(joint, name="joint"):
    """Return (joint as a float array/tensor, is_torch); raise TypeError for non-numeric input."""
    if _is_torch(joint):
        import torch

        if joint.is_complex():
            raise TypeError(f"{name} is a complex tensor; kllib works with real probabilities.")
        if not joint.is_floating_point():
            joint = joint.to(torch.get_default_dtype())
        return joint, True
    if isinstance(joint, (str, bytes, dict, set)) or joint is None:
        raise TypeError(
            f"{name} must be a 2-D table of probabilities (a NumPy array, a nested list or a torch tensor), "
            f"got {type(joint).__name__}."
        )
    try:
        arr = np.asarray(joint)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} could not be read as a numeric table ({exc}); pass a rectangular nested list or an array.") from None
    if arr.dtype.kind == "c":
        raise TypeError(f"{name} is a complex array; kllib works with real probabilities.")
    if arr.dtype.kind not in "biuf":
        raise TypeError(
            f"{name} has dtype {arr.dtype}, not numbers: pass a table of probabilities "
            "(for example np.array([[0.4, 0.1], [0.1, 0.4]]))."
        )
    if arr.dtype.kind != "f":
        arr = arr.astype(np.float64)
    return arr, False


def _check_joint(joint, is_torch, name="joint"):
    if joint.ndim < 2:
        raise ValueError(
            f"{name} has shape {tuple(joint.shape)}: a joint table needs two axes, rows for X and columns for Y "
            "(for independent marginals px, py build it as np.outer(px, py))."
        )
    if joint.shape[-1] == 0 or joint.shape[-2] == 0:
        raise ValueError(f"{name} has shape {tuple(joint.shape)}: each variable needs at least one outcome.")
    vals = joint.detach().cpu().numpy() if is_torch else joint
    vals = np.asarray(vals, dtype=np.float64)
    if not np.isfinite(vals).all():
        raise ValueError(f"{name} contains NaN or infinite entries; a joint table holds finite probabilities.")
    if (vals < 0).any():
        raise ValueError(f"{name} has negative entries (smallest {vals.min():.3g}); probabilities are >= 0.")
    totals = vals.sum(axis=(-2, -1))
    tol = 1e-4 if str(joint.dtype).endswith(("float32", "float16", "bfloat16")) else 1e-6
    bad = np.abs(totals - 1.0) > tol
    if bad.any():
        first = float(np.ravel(totals)[np.flatnonzero(np.ravel(bad))[0]])
        raise ValueError(
            f"{name} sums to {first:.6g} over its last two axes, not 1 (tolerance {tol:g}). "
            "If it is a table of counts (a contingency table), divide it by its total first: joint / joint.sum()."
        )


def _marginals(joint):
    """p(x) (summing over the columns) and p(y) (summing over the rows)."""
    return joint.sum(-1), joint.sum(-2)


def _flat(t):
    return t.reshape(*t.shape[:-2], t.shape[-2] * t.shape[-1])


def _nonneg(x, is_torch):
    """Clip the rounding error (a few ulp below 0) of a quantity that is >= 0 in exact arithmetic."""
    if is_torch:
        return x.clamp_min(0.0)
    out = np.maximum(x, 0.0)
    return out[()] if isinstance(out, np.ndarray) and out.ndim == 0 else out


def _setup(joint, validate):
    if not isinstance(validate, bool):
        raise TypeError(f"validate must be True or False, got {validate!r}.")
    joint, is_torch = _prepare(joint)
    if validate:
        _check_joint(joint, is_torch)
    elif joint.ndim < 2:
        raise ValueError(f"joint has shape {tuple(joint.shape)}: a joint table needs two axes.")
    return joint, is_torch


def mutual_information(joint, *, base=None, validate=True):
    r"""Mutual information :math:`I(X; Y)` of a discrete joint distribution.

    .. math::

        I(X; Y) = \sum_{x, y} p(x, y) \log \frac{p(x, y)}{p(x)\, p(y)}
                = D_{\mathrm{KL}}\big(p(x, y) \,\|\, p(x)\, p(y)\big)
                = H(X) + H(Y) - H(X, Y) = H(X) - H(X \mid Y)

    The KL divergence from the joint to the product of its marginals: how many nats (or bits)
    knowing :math:`Y` saves, on average, in describing :math:`X`, and vice versa (it is
    symmetric). Conventions: cells with :math:`p(x, y) = 0` contribute 0; the result is finite,
    :math:`0 \le I(X; Y) \le \min(H(X), H(Y))`, and 0 exactly when :math:`X` and :math:`Y` are
    independent (rounding error below 0 is clipped to 0).

    Parameters
    ----------
    joint : array_like or torch.Tensor
        The table :math:`p(x, y)`: the last two axes hold it (rows :math:`X`, columns :math:`Y`),
        leading axes are a batch. Non-negative, each table summing to 1. A table of counts
        (a contingency table) must be normalised first: ``joint / joint.sum()``.
    base : float, optional
        Logarithm base: ``None`` (default) for nats, ``2`` for bits.
    validate : bool, optional
        Check the input (default ``True``); ``False`` skips the checks in hot loops.

    Returns
    -------
    numpy.floating or numpy.ndarray or torch.Tensor
        :math:`I(X; Y)` for each table: the input shape without the last two axes.

    Raises
    ------
    ValueError
        If ``joint`` has fewer than two axes, negative, NaN or infinite entries, or a table
        that does not sum to 1 (tolerance ``1e-6``; ``1e-4`` for float32), or ``base`` is invalid.
    TypeError
        If ``joint`` is not numeric.

    See Also
    --------
    joint_entropy, conditional_entropy, kllib.kl, kllib.entropy,
    sklearn.metrics.mutual_info_score : the same quantity (nats) from labels or a contingency table.

    References
    ----------
    T. M. Cover and J. A. Thomas, *Elements of Information Theory*, 2nd ed., Wiley, 2006,
    sections 2.3-2.5 (definition 2.3.1 and theorem 2.4.1).

    Examples
    --------
    A binary symmetric channel with crossover probability 0.1 and a uniform input carries
    :math:`1 - h(0.1)` bits per use; independent variables share nothing.

    >>> import numpy as np
    >>> from kllib import mutual_information
    >>> bsc = 0.5 * np.array([[0.9, 0.1], [0.1, 0.9]])
    >>> round(float(mutual_information(bsc, base=2)), 4)
    0.531
    >>> float(mutual_information(np.outer([0.2, 0.8], [0.5, 0.3, 0.2])))
    0.0
    """
    from kllib import kl

    joint, is_torch = _setup(joint, validate)
    px, py = _marginals(joint)
    product = px[..., :, None] * py[..., None, :]
    mi = kl(_flat(joint), _flat(product), base=base, validate=False)
    return _nonneg(mi, is_torch)


def joint_entropy(joint, *, base=None, validate=True):
    r"""Joint entropy :math:`H(X, Y) = -\sum_{x, y} p(x, y) \log p(x, y)` of a discrete joint table.

    The entropy of the pair, i.e. :func:`kllib.entropy` of the flattened table. Conventions:
    :math:`0 \log 0 = 0`. :math:`\max(H(X), H(Y)) \le H(X, Y) \le H(X) + H(Y)`, with equality on
    the right exactly when :math:`X` and :math:`Y` are independent.

    Parameters
    ----------
    joint : array_like or torch.Tensor
        The table :math:`p(x, y)` in its last two axes (rows :math:`X`, columns :math:`Y`).
    base : float, optional
        ``None`` (default) for nats, ``2`` for bits.
    validate : bool, optional
        Check the input (default ``True``).

    Returns
    -------
    numpy.floating or numpy.ndarray or torch.Tensor
        One value per table.

    Raises
    ------
    ValueError, TypeError
        As :func:`mutual_information`.

    References
    ----------
    T. M. Cover and J. A. Thomas, *Elements of Information Theory*, 2nd ed., Wiley, 2006, section 2.2.

    Examples
    --------
    >>> from kllib import joint_entropy
    >>> float(joint_entropy([[0.25, 0.25], [0.25, 0.25]], base=2))
    2.0
    """
    from kllib import entropy

    joint, _ = _setup(joint, validate)
    return entropy(_flat(joint), base=base, validate=False)


def conditional_entropy(joint, *, base=None, validate=True):
    r"""Conditional entropy :math:`H(Y \mid X)` of a discrete joint table (rows :math:`X`, columns :math:`Y`).

    .. math::

        H(Y \mid X) = -\sum_{x, y} p(x, y) \log p(y \mid x) = \sum_x p(x)\, H(Y \mid X = x)
                    = H(X, Y) - H(X)

    the chain rule. The **columns** are the variable whose uncertainty is measured, the **rows**
    the one conditioned on; for :math:`H(X \mid Y)` pass the transposed table
    (``joint.swapaxes(-1, -2)``, or ``joint.mT`` in torch). Conventions: rows with :math:`p(x) = 0`
    contribute nothing; :math:`0 \le H(Y \mid X) \le H(Y)` ("conditioning reduces entropy" on
    average), with :math:`H(Y \mid X) = 0` when :math:`Y` is a function of :math:`X`.

    Parameters
    ----------
    joint : array_like or torch.Tensor
        The table :math:`p(x, y)` in its last two axes.
    base : float, optional
        ``None`` (default) for nats, ``2`` for bits.
    validate : bool, optional
        Check the input (default ``True``).

    Returns
    -------
    numpy.floating or numpy.ndarray or torch.Tensor
        One value per table.

    Raises
    ------
    ValueError, TypeError
        As :func:`mutual_information`.

    References
    ----------
    T. M. Cover and J. A. Thomas, *Elements of Information Theory*, 2nd ed., Wiley, 2006,
    definition 2.2.2 and theorem 2.2.1 (chain rule).

    Examples
    --------
    Knowing the input of a binary symmetric channel with crossover 0.1 leaves :math:`h(0.1)`
    bits of uncertainty about its output.

    >>> import numpy as np
    >>> from kllib import conditional_entropy
    >>> round(float(conditional_entropy(0.5 * np.array([[0.9, 0.1], [0.1, 0.9]]), base=2)), 4)
    0.469
    """
    from kllib import entropy

    joint, is_torch = _setup(joint, validate)
    px, _ = _marginals(joint)
    h = entropy(_flat(joint), base=base, validate=False) - entropy(px, base=base, validate=False)
    return _nonneg(h, is_torch)
