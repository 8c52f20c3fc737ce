"""KL divergence from samples alone: the k-nearest-neighbour estimator.

When neither density can be evaluated, only sampled, the estimators :func:`kllib.k1` to
:func:`kllib.k3` do not apply (they need ``log p`` and ``log q`` at the samples). The
k-nearest-neighbour (kNN) estimator of Wang, Kulkarni and Verdú (2009) and Pérez-Cruz (2008)
needs samples only. For :math:`x_1, \\dots, x_n \\sim P` and :math:`y_1, \\dots, y_m \\sim Q`
in :math:`\\mathbb{R}^d`,

.. math::

    \\widehat{D}_k(P\\,\\|\\,Q) = \\frac{d}{n}\\sum_{i=1}^{n}\\log\\frac{\\nu_k(i)}{\\rho_k(i)}
    + \\log\\frac{m}{n - 1},

where :math:`\\rho_k(i)` is the Euclidean distance from :math:`x_i` to its k-th nearest neighbour
among the *other* :math:`x_j`, and :math:`\\nu_k(i)` the distance from :math:`x_i` to its k-th
nearest neighbour among the :math:`y_j`. The ratio :math:`(\\nu_k/\\rho_k)^d` is a local estimate
of :math:`p(x_i)/q(x_i)`, up to the sample sizes; the estimator is consistent (asymptotically
unbiased, variance going to zero) for fixed ``k`` as ``n, m`` grow, but biased at finite sample
sizes, more so in higher dimension. The neighbour search uses :class:`scipy.spatial.cKDTree`.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = ["kl_knn"]


def _as_samples(a, name: str) -> np.ndarray:
    if hasattr(a, "detach") and hasattr(a, "cpu"):     # a torch tensor: the estimator is not differentiable
        a = a.detach().cpu().numpy()
    arr = np.asarray(a)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(f"{name} must be an array of numbers, got dtype {arr.dtype}")
    arr = arr.astype(np.float64, copy=False)
    if arr.ndim == 1:
        arr = arr[:, None]                               # n scalar samples: n points in dimension 1
    if arr.ndim != 2:
        raise ValueError(f"{name} must have shape (n,) or (n, d) (one sample per row), got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains nan or inf: drop those samples before estimating")
    return arr


def kl_knn(x, y, *, k: int = 1) -> float:
    """k-nearest-neighbour estimate of ``KL(P || Q)`` in nats from samples ``x ~ P`` and ``y ~ Q``.

    .. math::

        \\widehat{D}_k = \\frac{d}{n}\\sum_{i=1}^{n}\\log\\frac{\\nu_k(i)}{\\rho_k(i)} + \\log\\frac{m}{n-1}

    with :math:`\\rho_k(i)` the distance from ``x[i]`` to its k-th nearest neighbour among the other
    rows of ``x`` and :math:`\\nu_k(i)` the distance to its k-th nearest neighbour among the rows of
    ``y`` (Euclidean, found with :class:`scipy.spatial.cKDTree`).

    Parameters
    ----------
    x : array_like, shape (n,) or (n, d)
        Samples of P, one per row (a 1-D array is n samples of a scalar).
    y : array_like, shape (m,) or (m, d)
        Samples of Q, in the same dimension d.
    k : int, default 1
        Which neighbour. Larger ``k`` lowers the variance and raises the finite-sample bias.

    Returns
    -------
    float
        The estimate in nats, a Python float. It is **not** clipped at zero: like any unbiased-ish
        estimator of a small KL it can come out slightly negative, and clipping would bias it.
        Torch tensors are accepted and converted; no gradient flows (neighbour search is not
        differentiable).

    Raises
    ------
    TypeError
        If ``k`` is not an integer or the samples are not numeric.
    ValueError
        If the dimensions differ, ``k < 1``, there are fewer than ``k + 1`` samples of P or fewer
        than ``k`` samples of Q, a sample is nan/inf, or a k-th neighbour distance is zero.

    Notes
    -----
    *Duplicates.* The estimator assumes continuous distributions, under which two samples
    coincide with probability zero. Repeated points (rounded or discrete data) make
    :math:`\\rho_k(i) = 0` or :math:`\\nu_k(i) = 0` and the log-ratio infinite. Rather than return
    an infinite or nan value, ``kl_knn`` raises ``ValueError`` saying how many points are
    affected; remove the duplicates, add noise far below the data's resolution, or raise ``k``
    above the largest multiplicity. For discrete data use :func:`kllib.kl` on counts instead.

    *Bias.* The estimator is consistent, not unbiased: in one dimension with a few hundred
    samples the bias is a few hundredths of a nat; it grows with the dimension and with how
    different P and Q are. Measure it on a case with a known answer (tests/test_knn.py does,
    against :func:`kllib.kl_normal` and :func:`kllib.kl_mvn`).

    References
    ----------
    Q. Wang, S. R. Kulkarni, S. Verdú, "Divergence estimation for multidimensional densities via
    k-nearest-neighbor distances", IEEE Trans. Inf. Theory 55(5), 2392-2405, 2009.
    F. Pérez-Cruz, "Kullback-Leibler divergence estimation of continuous distributions",
    IEEE ISIT 2008.

    Examples
    --------
    >>> import numpy as np
    >>> from kllib import kl_knn, kl_normal
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(0.0, 1.0, 5000)      # P = N(0, 1)
    >>> y = rng.normal(1.0, 1.0, 5000)      # Q = N(1, 1): KL(P || Q) = 0.5
    >>> abs(kl_knn(x, y) - float(kl_normal(0.0, 1.0, 1.0, 1.0))) < 0.1
    True
    >>> kl_knn([0.0, 0.0, 1.0], [2.0, 3.0])
    Traceback (most recent call last):
    ...
    ValueError: kl_knn: 2 of the 3 points of x have their k-th nearest neighbour (k = 1) among x at distance 0 (duplicate points); the estimator assumes continuous samples: remove duplicates, add tiny noise, or raise k above the largest multiplicity
    """
    if isinstance(k, bool) or not isinstance(k, numbers.Integral):
        raise TypeError(f"k must be an integer >= 1, got {k!r}")
    k = int(k)
    if k < 1:
        raise ValueError(f"k must be >= 1 (which neighbour to use), got {k}")
    xs, ys = _as_samples(x, "x"), _as_samples(y, "y")
    n, d = xs.shape
    m, d_y = ys.shape
    if d != d_y:
        raise ValueError(f"x and y must live in the same dimension: x has {d} column(s), y has {d_y}; "
                         "pass one sample per row")
    if n < k + 1:
        raise ValueError(f"need at least k + 1 = {k + 1} samples of P (x) for the k-th neighbour among the others, got {n}")
    if m < k:
        raise ValueError(f"need at least k = {k} samples of Q (y), got {m}")

    from scipy.spatial import cKDTree

    # k + 1 neighbours among x: the point itself is at distance 0, so the (k+1)-th is the k-th *other* point
    # (with duplicates, a tie at distance 0 is still counted once per copy, which is what the formula means).
    rho = cKDTree(xs).query(xs, k=[k + 1])[0][:, 0]
    nu = cKDTree(ys).query(xs, k=[k])[0][:, 0]
    for dist, where in ((rho, "among x"), (nu, "among y")):
        zero = int(np.count_nonzero(dist == 0))
        if zero:
            raise ValueError(
                f"kl_knn: {zero} of the {n} points of x have their k-th nearest neighbour (k = {k}) {where} at distance 0 "
                "(duplicate points); the estimator assumes continuous samples: remove duplicates, add tiny noise, "
                "or raise k above the largest multiplicity")
    return float(d * np.mean(np.log(nu) - np.log(rho)) + math.log(m / (n - 1)))
