r"""Closed-form KL divergences between Gaussians.

NumPy in gives NumPy out, torch in gives a differentiable tensor; the floating dtype of
the array inputs is kept and Python numbers adopt it; half precision is computed in float32 (see
:mod:`kllib._xp`). Any other array-API library (JAX, ``array-api-strict``) gives its own arrays. Results
are in nats.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from kllib import _xp

__all__ = ["kl_normal", "kl_mvn", "kl_std_normal"]


def kl_normal(mu_p, sigma_p, mu_q, sigma_q, *, validate=True):
    r"""KL divergence between univariate normals, elementwise.

    .. math::

        D_{\mathrm{KL}}\big(\mathcal N(\mu_p, \sigma_p^2) \,\|\, \mathcal N(\mu_q, \sigma_q^2)\big)
        = \log\frac{\sigma_q}{\sigma_p} + \frac{\sigma_p^2 + (\mu_p - \mu_q)^2}{2\sigma_q^2} - \frac12

    Computed as :math:`\tfrac12\big(e^{2\ell} - 1 - 2\ell\big) +
    \tfrac12 \big((\mu_p - \mu_q)/\sigma_q\big)^2` with :math:`\ell = \log\sigma_p - \log\sigma_q`,
    where :math:`e^{x} - 1 - x` uses ``expm1`` and, for :math:`|x| < 1`, its Taylor series, so the
    result keeps full relative accuracy when the two are close (no cancellation in
    :math:`\rho - 1 - \log \rho`, :math:`\rho = \sigma_p^2/\sigma_q^2`).

    Parameters
    ----------
    mu_p, sigma_p, mu_q, sigma_q : array_like or torch.Tensor
        Means and **standard deviations** (not variances), broadcast against each other.
    validate : bool, optional
        Check the inputs (default ``True``): finite means, finite positive standard deviations.

    Returns
    -------
    numpy.ndarray or numpy.floating or torch.Tensor
        The elementwise divergence (broadcast shape); no reduction.

    Raises
    ------
    ValueError
        A standard deviation :math:`\le 0`, NaN or infinite entries, shapes that do not broadcast.

    See Also
    --------
    kl_mvn, kl_std_normal

    References
    ----------
    S. Kullback, *Information Theory and Statistics*, Wiley, 1959.

    Examples
    --------
    >>> from kllib import kl_normal
    >>> float(kl_normal(0.0, 1.0, 1.0, 1.0))       # (mu_p - mu_q)^2 / 2
    0.5
    >>> round(float(kl_normal(0.0, 1.0, 0.0, 2.0)), 6), round(float(kl_normal(0.0, 2.0, 0.0, 1.0)), 6)
    (0.318147, 0.806853)
    """
    _xp.check_validate(validate)
    names = ("mu_p", "sigma_p", "mu_q", "sigma_q")
    be, (mp, sp, mq, sq) = _xp.prepare(mu_p, sigma_p, mu_q, sigma_q, names=names)
    _xp.check_broadcast([(mp, "mu_p"), (sp, "sigma_p"), (mq, "mu_q"), (sq, "sigma_q")])
    if validate:
        _xp.check_finite(be, mp, "mu_p")
        _xp.check_finite(be, mq, "mu_q")
        _xp.check_positive(be, sp, "sigma_p")
        _xp.check_positive(be, sq, "sigma_q")
    xp = be.xp
    with be.errstate():
        ell = _log_ratio(be, sp, sq)
        z = (mp - mq) / sq
        d = 0.5 * _xp.expm1_minus_x(be, 2.0 * ell) + 0.5 * (z * z)
    return be.finish(d)


def _log_ratio(be, a, b):
    """``log(a / b)`` for positive ``a``, ``b``: the ratio is rounded once, so it keeps its digits when
    ``a`` is close to ``b``; where the ratio overflows or underflows, ``log a - log b``."""
    xp = be.xp
    r = a / b
    lr = xp.log(r)
    ok = (r > 0) & (r < math.inf)
    if be.is_numpy or (be.is_torch and be.checkable):
        if bool(xp.all(ok)):
            return lr
    return xp.where(ok, lr, xp.log(a) - xp.log(b))


def _cov_location(batch_idx):
    return "" if len(batch_idx) == 0 else f" at batch index {tuple(int(i) for i in batch_idx)}"


def _check_cov(be, cov, name):
    _xp.check_finite(be, cov, name)
    if not be.checkable:
        return
    xp = be.xp
    asym = xp.abs(cov - xp.matrix_transpose(cov))
    scale = xp.max(xp.abs(cov), axis=(-2, -1), keepdims=True)
    tol = math.sqrt(_xp.float_eps(be.out_dtype))
    if not bool(xp.any(asym > tol * scale)):
        return
    a = _xp.to_numpy(be, cov)
    asym = np.abs(a - np.swapaxes(a, -1, -2))
    scale = np.maximum(np.max(np.abs(a), axis=(-2, -1), keepdims=True), np.finfo(a.dtype).tiny)
    bad = asym > tol * scale
    idx = np.argwhere(bad)[0]
    b, (i, j) = idx[:-2], idx[-2:]
    raise ValueError(
        f"{name} is not symmetric{_cov_location(b)}: entry ({i}, {j}) differs from ({j}, {i}) "
        f"by {asym[tuple(idx)]:.3g}. Symmetrise it with ({name} + {name}.T) / 2 "
        f"(swap the last two axes for a batch)."
    )


def _not_pd(be, cov, name, failed):
    idx = np.argwhere(np.asarray(failed))
    b = idx[0] if len(idx) else ()
    k = cov.shape[-1]
    eye = "torch.eye" if be.is_torch else "np.eye"
    return ValueError(
        f"{name} is not positive definite{_cov_location(b)} (its Cholesky factorisation failed): "
        f"a covariance needs all eigenvalues > 0. If it is only singular up to rounding, "
        f"add a small jitter: {name} + 1e-6 * {eye}({k})."
    )


def _numpy_failures(a):
    """Boolean array (batch shape) of the matrices whose NumPy Cholesky fails."""
    batch = a.shape[:-2]
    flat = a.reshape((-1,) + a.shape[-2:])
    failed = np.zeros(flat.shape[0], dtype=bool)
    for i, m in enumerate(flat):
        try:
            np.linalg.cholesky(m)
        except np.linalg.LinAlgError:
            failed[i] = True
    return failed.reshape(batch)


def _cholesky(be, cov, name):
    """Lower Cholesky factor; a ValueError naming the batch entry that is not positive definite."""
    xp = be.xp
    if be.is_torch:
        import torch

        L, info = torch.linalg.cholesky_ex(cov)
        if be.checkable and bool((info != 0).any()):
            raise _not_pd(be, cov, name, (info != 0).cpu().numpy())
        return L
    try:
        L = xp.linalg.cholesky(cov)
    except Exception:  # NumPy's LinAlgError, or another library's
        raise _not_pd(be, cov, name, _numpy_failures(_xp.to_numpy(be, cov))) from None
    if not be.is_numpy and be.checkable and not bool(xp.all(xp.isfinite(L))):  # JAX returns NaN
        raise _not_pd(be, cov, name, _numpy_failures(_xp.to_numpy(be, cov)))
    return L


def _solve_lower(be, L, b):
    """Solve ``L x = b`` for lower-triangular ``L`` (batched, no inverse)."""
    xp = be.xp
    if be.is_torch:
        import torch

        return torch.linalg.solve_triangular(L, b, upper=False)
    if be.is_numpy:
        from scipy.linalg import solve_triangular

        if L.size == 0 or b.size == 0:  # SciPy refuses zero-size batches
            return np.zeros(np.broadcast_shapes(L.shape[:-2], b.shape[:-2]) + b.shape[-2:], dtype=b.dtype)
        try:  # 2-D always works; SciPy >= 1.15 also batches natively
            return solve_triangular(L, b, lower=True)
        except ValueError:  # pragma: no cover - older SciPy
            Lf = L.reshape((-1,) + L.shape[-2:])
            bf = b.reshape((-1,) + b.shape[-2:])
            out = np.stack([solve_triangular(l_, b_, lower=True) for l_, b_ in zip(Lf, bf)])
            return out.reshape(b.shape)
    return xp.linalg.solve(L, b)  # the array API has no triangular solve


def kl_mvn(mu_p, cov_p, mu_q, cov_q, *, validate=True):
    r"""KL divergence between multivariate normals with full covariances (batched).

    .. math::

        D_{\mathrm{KL}}\big(\mathcal N(\mu_p, \Sigma_p) \,\|\, \mathcal N(\mu_q, \Sigma_q)\big)
        = \tfrac12 \Big[\operatorname{tr}(\Sigma_q^{-1}\Sigma_p)
          + (\mu_q - \mu_p)^\top \Sigma_q^{-1} (\mu_q - \mu_p) - k
          + \log\det\Sigma_q - \log\det\Sigma_p\Big]

    Computed with Cholesky factors :math:`\Sigma = L L^\top` and triangular solves, never
    an explicit inverse: :math:`\operatorname{tr}(\Sigma_q^{-1}\Sigma_p) = \|L_q^{-1} L_p\|_F^2`,
    the Mahalanobis term is :math:`\|L_q^{-1}(\mu_q - \mu_p)\|^2` and
    :math:`\log\det\Sigma = 2\sum_i \log L_{ii}`. Since :math:`M = L_q^{-1} L_p` is lower triangular,
    the trace, :math:`-k` and log-determinant terms are gathered as

    .. math::

        \operatorname{tr}(M M^\top) - k - \log\det(M M^\top)
        = \sum_i \big(e^{\ell_i} - 1 - \ell_i\big) + \sum_{i > j} M_{ij}^2,
        \qquad \ell_i = 2 \log \frac{(L_p)_{ii}}{(L_q)_{ii}},

    a sum of non-negative terms (with :math:`e^\ell - 1 - \ell` from ``expm1`` and a series), so the
    result keeps its relative accuracy, and is never negative, when the covariances are nearly equal.

    Parameters
    ----------
    mu_p, mu_q : array_like or torch.Tensor
        Means, shape ``(..., k)``.
    cov_p, cov_q : array_like or torch.Tensor
        Covariances, shape ``(..., k, k)``, symmetric positive definite. Leading batch
        dimensions of all four inputs broadcast against each other.
    validate : bool, optional
        Check the inputs (default ``True``): shapes, finiteness and symmetry (to
        :math:`\sqrt{\varepsilon}` of the largest entry). Positive definiteness is always
        checked, by the Cholesky factorisation.

    Returns
    -------
    numpy.ndarray or numpy.floating or torch.Tensor
        The divergence for each batch element, shape ``(...)``.

    Raises
    ------
    ValueError
        Shapes that do not fit ``(..., k)`` / ``(..., k, k)`` with :math:`k \ge 1` or do not
        broadcast, NaN or infinite entries, a covariance that is not symmetric or not positive
        definite.

    See Also
    --------
    kl_normal, kl_std_normal

    References
    ----------
    S. Kullback, *Information Theory and Statistics*, Wiley, 1959.

    Examples
    --------
    >>> import numpy as np
    >>> from kllib import kl_mvn, kl_normal
    >>> mu_p, mu_q = np.array([0.0, 1.0]), np.array([1.0, 0.0])
    >>> cov_p, cov_q = np.diag([1.0, 4.0]), np.diag([2.0, 1.0])
    >>> # independent coordinates: the KL is a sum of univariate KLs
    >>> bool(np.isclose(kl_mvn(mu_p, cov_p, mu_q, cov_q),
    ...                 kl_normal(mu_p, np.sqrt([1.0, 4.0]), mu_q, np.sqrt([2.0, 1.0])).sum()))
    True
    >>> kl_mvn(np.zeros((3, 2)), np.eye(2), np.zeros(2), 2 * np.eye(2)).shape   # batched
    (3,)
    """
    _xp.check_validate(validate)
    names = ("mu_p", "cov_p", "mu_q", "cov_q")
    be, (mp, cp, mq, cq) = _xp.prepare(mu_p, cov_p, mu_q, cov_q, names=names)
    xp = be.xp
    for m, n in ((mp, "mu_p"), (mq, "mu_q")):
        if m.ndim < 1:
            raise ValueError(f"{n} is a scalar: a mean must have shape (..., k). Use kl_normal for scalars.")
    for c, n in ((cp, "cov_p"), (cq, "cov_q")):
        if c.ndim < 2 or c.shape[-1] != c.shape[-2]:
            raise ValueError(
                f"{n} has shape {tuple(c.shape)}: a covariance must be a square matrix of shape (..., k, k)."
            )
    k = mp.shape[-1]
    if k == 0:
        raise ValueError(
            "mu_p has shape " + str(tuple(mp.shape)) + ": the Gaussians have dimension k = 0. "
            "A mean needs at least one coordinate, shape (..., k) with k >= 1."
        )
    for x, n, kk in ((mq, "mu_q", mq.shape[-1]), (cp, "cov_p", cp.shape[-1]), (cq, "cov_q", cq.shape[-1])):
        if kk != k:
            raise ValueError(
                f"mu_p has dimension k={k} but {n} has shape {tuple(x.shape)}: all four inputs must "
                f"describe Gaussians in the same dimension."
            )
    batch = _xp.check_broadcast(
        [(mp[..., 0], "mu_p batch"), (mq[..., 0], "mu_q batch"), (cp[..., 0, 0], "cov_p batch"), (cq[..., 0, 0], "cov_q batch")]
    )
    if validate:
        _xp.check_finite(be, mp, "mu_p")
        _xp.check_finite(be, mq, "mu_q")
        _check_cov(be, cp, "cov_p")
        _check_cov(be, cq, "cov_q")
    Lp = _cholesky(be, cp, "cov_p")
    Lq = _cholesky(be, cq, "cov_q")
    Lp = xp.broadcast_to(Lp, tuple(batch) + (k, k))
    Lq = xp.broadcast_to(Lq, tuple(batch) + (k, k))
    diff = xp.broadcast_to(mq - mp, tuple(batch) + (k,))
    with be.errstate():
        M = _solve_lower(be, Lq, Lp)                               # L_q^{-1} L_p, lower triangular
        y = _solve_lower(be, Lq, diff[..., None])[..., 0]          # L_q^{-1} (mu_q - mu_p)
        off = xp.sum(xp.square(xp.tril(M, k=-1)), axis=(-2, -1))   # sum_{i > j} M_ij^2
        mahal = xp.sum(xp.square(y), axis=-1)
        ell = 2.0 * _log_ratio(be, _diagonal(be, Lp), _diagonal(be, Lq))   # log M_ii^2
        d = 0.5 * (xp.sum(_xp.expm1_minus_x(be, ell), axis=-1) + off + mahal)
    return be.finish(d)


def _diagonal(be, a):
    return be.xp.linalg.diagonal(a)


def kl_std_normal(mu, logvar, *, axis=-1, validate=True):
    r"""KL divergence from a diagonal Gaussian to the standard normal: the VAE term.

    .. math::

        D_{\mathrm{KL}}\big(\mathcal N(\mu, \operatorname{diag}\sigma^2) \,\|\, \mathcal N(0, I)\big)
        = \tfrac12 \sum_j \big(\mu_j^2 + \sigma_j^2 - 1 - \log\sigma_j^2\big),
        \qquad \log\sigma_j^2 = \texttt{logvar}_j

    summed over ``axis`` (the latent dimensions). :math:`\sigma^2 - 1 - \log\sigma^2` is computed
    from ``logvar`` with ``expm1`` and a Taylor series near 0, so the result keeps full relative
    accuracy near the prior.

    Parameters
    ----------
    mu, logvar : array_like or torch.Tensor
        Means and **log-variances** of the encoder's Gaussian, broadcast against each other.
    axis : int or tuple of int or None, optional
        The latent axis (or axes) to sum over (default ``-1``); ``None`` sums everything.
    validate : bool, optional
        Check the inputs (default ``True``): finite entries, shapes that broadcast.

    Returns
    -------
    numpy.ndarray or numpy.floating or torch.Tensor
        The divergence per example (the broadcast shape without ``axis``). Average it over
        the batch yourself.

    Raises
    ------
    ValueError
        NaN or infinite entries, shapes that do not broadcast, an ``axis`` out of range
        (or named twice), scalar inputs with an ``axis``.
    TypeError
        An ``axis`` that is not an integer, a tuple of integers or ``None``.

    See Also
    --------
    kl_normal

    References
    ----------
    D. P. Kingma and M. Welling, "Auto-encoding variational Bayes", ICLR 2014, appendix B.

    Examples
    --------
    >>> import numpy as np
    >>> from kllib import kl_std_normal
    >>> float(kl_std_normal([0.0, 0.0], [0.0, 0.0]))    # the prior itself
    0.0
    >>> float(kl_std_normal([1.0, 0.0], [0.0, 0.0]))
    0.5
    >>> kl_std_normal(np.zeros((4, 8)), np.zeros((4, 8))).shape
    (4,)
    """
    _xp.check_validate(validate)
    be, (mu, lv) = _xp.prepare(mu, logvar, names=("mu", "logvar"))
    shape = _xp.check_broadcast([(mu, "mu"), (lv, "logvar")])
    if axis is not None and len(shape) == 0:
        raise ValueError("mu and logvar are scalars: pass axis=None, or arrays with a latent axis.")
    if axis is not None:
        axes = axis if isinstance(axis, tuple) else (axis,)
        for ax in axes:
            if isinstance(ax, bool) or not isinstance(ax, numbers.Integral):
                raise TypeError(
                    f"axis must be an integer, a tuple of integers or None (the latent axes to sum over), got {axis!r}."
                )
            if not -len(shape) <= ax < len(shape):
                raise ValueError(
                    f"axis={axis!r} is out of range for mu and logvar with broadcast shape {tuple(shape)}."
                )
        if len({ax % len(shape) for ax in axes}) != len(axes):
            raise ValueError(f"axis={axis!r} names the same axis twice.")
        axis = tuple(int(ax) for ax in axes) if isinstance(axis, tuple) else int(axis)
    if validate:
        _xp.check_finite(be, mu, "mu")
        _xp.check_finite(be, lv, "logvar")
    xp = be.xp
    with be.errstate():
        terms = mu * mu + _xp.expm1_minus_x(be, lv)
        # axis=() sums over no axis in every library (torch's own sum(dim=()) would sum over all)
        if (be.is_torch or be.is_numpy) and isinstance(axis, int):
            d = 0.5 * (terms.sum(dim=axis) if be.is_torch else terms.sum(axis=axis))
        else:
            d = 0.5 * xp.sum(terms, axis=axis)
    return be.finish(d)
