r"""Other divergences between discrete distributions: Jensen-Shannon, total variation,
Hellinger and Rényi.

Inputs, outputs and validation follow the rules of :mod:`kllib.discrete`: probability
vectors along ``axis`` (default ``-1``), NumPy in gives NumPy out, torch in gives a
differentiable tensor, ``validate=False`` skips the checks. Outcomes with :math:`p_i = 0`
are masked so torch gradients stay finite there. Any other array-API library (JAX,
``array-api-strict``) gives its own arrays.

Near :math:`P \approx Q` every function keeps its relative accuracy: :func:`js` takes logarithms of
ratios (the :func:`scipy.special.rel_entr` way), :func:`hellinger` writes
:math:`\sqrt{p} - \sqrt{q} = (p - q)/(\sqrt p + \sqrt q)`. :func:`renyi` works in log space (see its
notes). No divergence is ever negative, and :func:`js` never exceeds :math:`\log 2`.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from kllib import _xp
from kllib.discrete import _eager, _in_base, _js_terms, _prepare_pq

__all__ = ["js", "js_distance", "tv", "hellinger", "renyi"]


def js(p, q, *, base=None, axis=-1, validate=True):
    r"""Jensen-Shannon divergence.

    .. math::

        D_{\mathrm{JS}}(P \,\|\, Q) = \tfrac12 D_{\mathrm{KL}}(P \,\|\, M)
            + \tfrac12 D_{\mathrm{KL}}(Q \,\|\, M), \qquad M = \tfrac12 (P + Q)

    It is symmetric, always finite, and :math:`0 \le D_{\mathrm{JS}} \le \log 2`
    (1 bit with ``base=2``), the upper bound reached by distributions with disjoint
    supports. Its square root is a metric, :func:`js_distance`.

    Conventions: terms with :math:`p_i = 0` (resp. :math:`q_i = 0`) contribute 0; the
    result is clipped to :math:`[0, \log 2]` to absorb rounding (so :func:`js_distance` never
    sees a tiny negative number).

    Parameters
    ----------
    p, q : array_like or torch.Tensor
        Probabilities over the same outcomes along ``axis``; shapes must broadcast.
    base : float, optional
        Logarithm base: ``None`` (default) for nats, ``2`` for bits.
    axis : int, optional
        The axis that holds each distribution (default ``-1``).
    validate : bool, optional
        Check the inputs (default ``True``).

    Returns
    -------
    numpy.ndarray or numpy.floating or torch.Tensor
        The divergence, broadcast shape without ``axis``.

    Raises
    ------
    ValueError
        Negative, NaN or infinite probabilities, a slice that does not sum to 1, shapes that
        do not broadcast, or an invalid ``base``.
    TypeError
        Non-numeric input.

    See Also
    --------
    js_distance, scipy.spatial.distance.jensenshannon

    References
    ----------
    J. Lin, "Divergence measures based on the Shannon entropy", *IEEE Trans. Inf. Theory*
    37(1):145-151, 1991.

    Examples
    --------
    >>> from kllib import js
    >>> float(js([1.0, 0.0], [0.0, 1.0], base=2))   # disjoint supports: the maximum
    1.0
    >>> round(float(js([0.5, 0.5], [0.9, 0.1])), 6) == round(float(js([0.9, 0.1], [0.5, 0.5])), 6)
    True
    """
    be, p, q, axis, log_base = _prepare_pq(p, q, axis, validate, base)
    xp = be.xp
    with be.errstate():
        # p log(p / m) with m = (p + q) / 2, as p log(2p / (p + q)) = p log1p((p - q) / (p + q)) near p = q
        # (see _js_terms); p + q cannot underflow to 0 where p > 0, as (p + q) / 2 can for subnormal p
        # (js([5e-324, 1], [0, 1]) would be inf instead of ~0).
        d = 0.5 * xp.sum(_js_terms(be, p, q), axis=axis) + 0.5 * xp.sum(_js_terms(be, q, p), axis=axis)
        d = xp.clip(d, min=0.0, max=math.log(2.0)) + 0.0  # + 0.0 turns -0.0 into 0.0
    return be.finish(_in_base(d, log_base))


def js_distance(p, q, *, base=None, axis=-1, validate=True):
    r"""Jensen-Shannon distance: the square root of :func:`js`.

    .. math::

        d_{\mathrm{JS}}(P, Q) = \sqrt{D_{\mathrm{JS}}(P \,\|\, Q)}

    A metric (it satisfies the triangle inequality), bounded by :math:`\sqrt{\log 2}`
    (1 with ``base=2``). This is what :func:`scipy.spatial.distance.jensenshannon`
    returns (note SciPy's default ``axis=0``). In torch, where the square root has an
    infinite derivative at :math:`P = Q`, the gradient there is set to 0 (as
    ``torch.linalg.norm`` does at 0) instead of ``nan``.

    Parameters
    ----------
    p, q : array_like or torch.Tensor
        Probabilities over the same outcomes along ``axis``; shapes must broadcast.
    base : float, optional
        Logarithm base of the underlying divergence: ``None`` (nats) or ``2`` (bits).
    axis : int, optional
        The axis that holds each distribution (default ``-1``).
    validate : bool, optional
        Check the inputs (default ``True``).

    Returns
    -------
    numpy.ndarray or numpy.floating or torch.Tensor
        The distance, broadcast shape without ``axis``.

    Raises
    ------
    ValueError
        Negative, NaN or infinite probabilities, a slice that does not sum to 1, shapes that
        do not broadcast, or an invalid ``base``.
    TypeError
        Non-numeric input.

    See Also
    --------
    js

    References
    ----------
    D. M. Endres and J. E. Schindelin, "A new metric for probability distributions",
    *IEEE Trans. Inf. Theory* 49(7):1858-1860, 2003.

    Examples
    --------
    >>> from scipy.spatial.distance import jensenshannon
    >>> from kllib import js_distance
    >>> p, q = [0.2, 0.3, 0.5], [0.6, 0.3, 0.1]
    >>> bool(abs(js_distance(p, q) - jensenshannon(p, q)) < 1e-12)
    True
    """
    d = js(p, q, base=base, axis=axis, validate=validate)
    if _xp._is_tensor(d):
        import torch

        # like torch.linalg.norm at 0: a zero gradient at P = Q instead of inf * 0 = nan
        pos = d > 0
        return torch.where(pos, torch.sqrt(torch.where(pos, d, 1.0)), 0.0)
    if isinstance(d, (np.ndarray, np.generic)):
        return np.sqrt(d)
    import array_api_compat

    return array_api_compat.array_namespace(d).sqrt(d)


def tv(p, q, *, axis=-1, validate=True):
    r"""Total variation distance.

    .. math::

        \delta(P, Q) = \tfrac12 \sum_i |p_i - q_i| = \max_A |P(A) - Q(A)|

    Between 0 and 1 (1 for disjoint supports). Pinsker's inequality bounds it by KL:
    :math:`\delta(P, Q) \le \sqrt{D_{\mathrm{KL}}(P \,\|\, Q) / 2}` (in nats).

    Parameters
    ----------
    p, q : array_like or torch.Tensor
        Probabilities over the same outcomes along ``axis``; shapes must broadcast.
    axis : int, optional
        The axis that holds each distribution (default ``-1``).
    validate : bool, optional
        Check the inputs (default ``True``).

    Returns
    -------
    numpy.ndarray or numpy.floating or torch.Tensor
        The distance, broadcast shape without ``axis``.

    Raises
    ------
    ValueError
        Negative, NaN or infinite probabilities, a slice that does not sum to 1, shapes that
        do not broadcast.
    TypeError
        Non-numeric input.

    References
    ----------
    T. M. Cover and J. A. Thomas, *Elements of Information Theory*, 2nd ed., Wiley, 2006,
    lemma 11.6.1 (Pinsker's inequality).

    Examples
    --------
    >>> from kllib import tv
    >>> round(float(tv([0.5, 0.5], [0.9, 0.1])), 12)
    0.4
    """
    be, p, q, axis, _ = _prepare_pq(p, q, axis, validate, None)
    d = 0.5 * be.xp.sum(be.xp.abs(p - q), axis=axis)
    return be.finish(d)


def hellinger(p, q, *, axis=-1, validate=True):
    r"""Hellinger distance, normalised to lie in :math:`[0, 1]`.

    .. math::

        H^2(P, Q) = \tfrac12 \sum_i \left(\sqrt{p_i} - \sqrt{q_i}\right)^2
                  = 1 - \sum_i \sqrt{p_i q_i}, \qquad H = \sqrt{H^2}

    Normalisation: with the factor :math:`\tfrac12`, :math:`H = 1` exactly for disjoint
    supports (some texts omit it, giving values up to :math:`\sqrt2`). This function
    returns :math:`H`, not :math:`H^2`; square it for the squared distance. It is computed
    from the sum of squares, each difference written as
    :math:`\sqrt{p_i} - \sqrt{q_i} = (p_i - q_i) / (\sqrt{p_i} + \sqrt{q_i})`, which keeps full relative
    accuracy when :math:`P \approx Q` (both :math:`1 - \sum \sqrt{p_i q_i}` and the plain difference of
    square roots cancel). Related to total variation by
    :math:`H^2 \le \delta \le \sqrt2\, H`.

    Parameters
    ----------
    p, q : array_like or torch.Tensor
        Probabilities over the same outcomes along ``axis``; shapes must broadcast.
    axis : int, optional
        The axis that holds each distribution (default ``-1``).
    validate : bool, optional
        Check the inputs (default ``True``).

    Returns
    -------
    numpy.ndarray or numpy.floating or torch.Tensor
        :math:`H(P, Q) \in [0, 1]`, broadcast shape without ``axis``.

    Raises
    ------
    ValueError
        Negative, NaN or infinite probabilities, a slice that does not sum to 1, shapes that
        do not broadcast.
    TypeError
        Non-numeric input.

    References
    ----------
    E. Hellinger, "Neue Begründung der Theorie quadratischer Formen von unendlichvielen
    Veränderlichen", *J. reine angew. Math.* 136:210-271, 1909.

    Examples
    --------
    >>> from kllib import hellinger
    >>> float(hellinger([1.0, 0.0], [0.0, 1.0]))
    1.0
    >>> round(float(hellinger([0.5, 0.5], [0.9, 0.1]) ** 2), 6)   # 1 - (sqrt(.45) + sqrt(.05))
    0.105573
    """
    be, p, q, axis, _ = _prepare_pq(p, q, axis, validate, None)
    xp = be.xp
    with be.errstate():
        # sqrt with a finite gradient at 0 (the true one is infinite): mask zeros.
        sp = xp.where(p > 0, xp.sqrt(xp.where(p > 0, p, 1.0)), 0.0)
        sq = xp.where(q > 0, xp.sqrt(xp.where(q > 0, q, 1.0)), 0.0)
        den = sp + sq
        # sqrt(p) - sqrt(q) = (p - q) / (sqrt(p) + sqrt(q)): p - q is exact for close p and q
        diff = xp.where(den > 0, (p - q) / xp.where(den > 0, den, 1.0), 0.0)
        h2 = 0.5 * xp.sum(diff * diff, axis=axis)
        h2 = xp.clip(h2, min=0.0, max=1.0)
        h = xp.where(h2 > 0, xp.sqrt(xp.where(h2 > 0, h2, 1.0)), 0.0)
    return be.finish(h)


def renyi(p, q, alpha, *, base=None, axis=-1, validate=True):
    r"""Rényi divergence of order :math:`\alpha`.

    .. math::

        D_\alpha(P \,\|\, Q) = \frac{1}{\alpha - 1} \log \sum_i p_i^\alpha q_i^{1 - \alpha},
        \qquad \alpha \in (0, 1) \cup (1, \infty)

    and its limits, which are handled exactly:

    * :math:`\alpha = 1`: :math:`D_1 = D_{\mathrm{KL}}(P \,\|\, Q)` (calls :func:`kllib.discrete.kl`);
    * :math:`\alpha = 0`: :math:`D_0 = -\log Q(\{i : p_i > 0\})`;
    * :math:`\alpha = \infty`: :math:`D_\infty = \log \max_{i: p_i > 0} p_i / q_i`.

    :math:`D_\alpha` is non-decreasing in :math:`\alpha`; :math:`\alpha = 1/2` gives
    :math:`-2 \log (1 - H^2)` with :math:`H` the :func:`hellinger` distance.

    Conventions: terms with :math:`p_i = 0` contribute 0. For :math:`\alpha > 1` (and
    :math:`\alpha = \infty`) a :math:`p_i > 0` where :math:`q_i = 0` gives ``inf``; for
    :math:`\alpha < 1` it contributes 0, and only disjoint supports give ``inf``. The sum is
    evaluated without overflow for every :math:`\alpha`, even a huge finite one in float32 or half
    precision. For :math:`\alpha < 1` (and for :math:`\alpha > 1` when no
    :math:`(\alpha - 1)\log(p_i/q_i)` exceeds 1) it is ``log1p`` of
    :math:`S - 1 = \sum_i \big(p_i^\alpha q_i^{1-\alpha} - \alpha p_i - (1 - \alpha) q_i\big)
    + \alpha(\sum_i p_i - 1) + (1 - \alpha)(\sum_i q_i - 1)`, whose terms are second order in
    :math:`\log(q_i/p_i)` and whose two sums are taken without rounding, so the result keeps its
    relative accuracy when :math:`P \approx Q` and for an extreme ratio :math:`p_i/q_i`. Otherwise the
    sum is taken in log space (``logsumexp`` shifted by the largest :math:`\log(p_i/q_i)`). The result
    is clipped at 0 from below to absorb rounding. For :math:`\alpha` within about :math:`10^{-8}` of 1 the
    formula loses relative accuracy, so prefer ``alpha=1``.

    Parameters
    ----------
    p, q : array_like or torch.Tensor
        Probabilities over the same outcomes along ``axis``; shapes must broadcast.
    alpha : float
        The order, a number :math:`\ge 0`, or ``numpy.inf`` / ``float("inf")``.
    base : float, optional
        Logarithm base: ``None`` (default) for nats, ``2`` for bits.
    axis : int, optional
        The axis that holds each distribution (default ``-1``).
    validate : bool, optional
        Check the inputs (default ``True``).

    Returns
    -------
    numpy.ndarray or numpy.floating or torch.Tensor
        The divergence, broadcast shape without ``axis``.

    Raises
    ------
    ValueError
        ``alpha`` negative or NaN, or invalid probabilities (see :func:`kllib.discrete.kl`).
    TypeError
        ``alpha`` not a real number.

    References
    ----------
    A. Rényi, "On measures of entropy and information", *Proc. 4th Berkeley Symp. Math.
    Statist. Prob.* 1:547-561, 1961.

    T. van Erven and P. Harremoës, "Rényi divergence and Kullback-Leibler divergence",
    *IEEE Trans. Inf. Theory* 60(7):3797-3820, 2014.

    Examples
    --------
    >>> import numpy as np
    >>> from kllib import kl, renyi
    >>> p, q = [0.5, 0.5], [0.9, 0.1]
    >>> bool(renyi(p, q, 1) == kl(p, q))
    True
    >>> [round(float(renyi(p, q, a)), 4) for a in (0, 0.5, 1, 2, np.inf)]
    [0.0, 0.2231, 0.5108, 1.0217, 1.6094]
    """
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real):
        raise TypeError(f"alpha must be a real number >= 0 (or inf), got {type(alpha).__name__}.")
    a = float(alpha)
    if math.isnan(a) or a < 0:
        raise ValueError(f"alpha={alpha!r}: the Rényi order must be >= 0 (use alpha=1 for KL).")
    if a == 1.0:
        from kllib.discrete import kl

        return kl(p, q, base=base, axis=axis, validate=validate)
    be, p, q, axis, log_base = _prepare_pq(p, q, axis, validate, base)
    xp = be.xp
    inf = math.inf
    with be.errstate():
        pos = p > 0
        if a == 0.0:
            mass = xp.sum(xp.where(pos, q, 0.0), axis=axis)
            m_safe = xp.where(mass > 0, mass, 1.0)
            d = xp.where(mass > 0, -xp.log(m_safe), inf)
            d = xp.clip(d, min=0.0) + 0.0  # rounding can give mass 1 + 1e-16; and no -0.0
        elif math.isinf(a):
            qpos = q > 0
            both = pos & qpos
            lr = _log_pq(be, xp.where(both, p, 1.0), xp.where(both, q, 1.0))
            lr = xp.where(both, lr, -inf)
            lr = xp.where(pos & ~qpos, inf, lr)
            d = xp.max(lr, axis=axis)
        else:
            d = _renyi_finite(be, p, q, a, axis)
            # D_alpha >= 0 (Hölder: the sum is <= 1 for alpha < 1 and >= 1 for alpha > 1); rounding
            # near P = Q can give -1e-17, so clip at 0 as js does (and turn -0.0 into 0.0).
            d = xp.clip(d, min=0.0) + 0.0
    return be.finish(_in_base(d, log_base))


def _log_pq(be, p, q):
    """``log(p / q)`` for positive entries: one rounding of the ratio (accurate near 1), falling back to
    ``log p - log q`` where the ratio overflows or underflows."""
    xp = be.xp
    r = p / q
    lr = xp.log(r)
    ok = (r > 0) & (r < math.inf)
    if _eager(be) and bool(xp.all(ok)):
        return lr
    return xp.where(ok, lr, xp.log(p) - xp.log(q))


def _sum_minus_one(be, x, axis):
    """``sum(x, axis) - 1`` without the rounding of the sum: ``x = hi + lo`` with ``hi`` on a grid of
    2^-30 (2^-10 in float32), whose sum is exact, and ``lo`` small, whose sum's rounding is negligible."""
    xp = be.xp
    scale = 2.0**30 if _xp.float_eps(be.dtype) < 1e-10 else 2.0**10
    hi = xp.floor(x * scale) / scale
    return (xp.sum(hi, axis=axis) - 1.0) + xp.sum(x - hi, axis=axis)


def _renyi_finite(be, p, q, a, axis):
    r"""D_alpha for a finite alpha not in {0, 1}, per slice along ``axis`` (before clipping).

    (1) S - 1 = sum_i T_i + a (sum p - 1) + (1 - a) (sum q - 1) with T_i = p^a q^(1-a) - a p - (1 - a) q,
    each T_i second order in log(q/p) and computed without cancellation, the two sums of p and q without
    rounding; D = log1p(S - 1) / (a - 1). Used for alpha < 1 (no term exceeds max(p, q)) and, per slice,
    for alpha > 1 where no (alpha - 1) log(p/q) exceeds 1.
    (2) For the other slices with alpha > 1, the sum in log space, shifted by the largest log-ratio.
    """
    xp = be.xp
    inf = math.inf
    pos = p > 0
    qpos = q > 0
    both = pos & qpos
    a_eff = min(a, 0.5 * float(_max_float(be.dtype)))  # a multiplier of a float32 array must stay finite
    b = 1.0 - a_eff
    p1 = xp.where(both, p, 1.0)
    q1 = xp.where(both, q, 1.0)
    ell = _log_pq(be, q1, p1)                          # log(q/p) where both > 0, else 0
    small = (xp.abs(ell) <= 1.0) & (b * ell <= 1.0)
    es = xp.where(small, ell, 0.0)
    t_small = p1 * (xp.expm1(b * es) - b * xp.expm1(es))
    lp, lq = xp.log(p1), xp.log(q1)
    u = xp.where(small, 0.0, a_eff * lp + b * lq)
    t_big = xp.exp(xp.where(u <= 1.0, u, 1.0)) - a_eff * p1 - b * q1
    t = xp.where(small, t_small, t_big)
    # only one of p, q positive: p^a q^b is 0 for alpha < 1 (+inf for alpha > 1, handled by (2))
    t = xp.where(both, t, -a_eff * p - b * q)
    s1 = xp.sum(t, axis=axis) + a_eff * _sum_minus_one(be, p, axis) + b * _sum_minus_one(be, q, axis)
    overlap = xp.any(both, axis=axis)
    s1 = xp.where(overlap & (s1 > -1.0), s1, -1.0)     # disjoint supports: S = 0 exactly
    d1 = xp.log1p(s1) / (a - 1.0)
    if a < 1:
        return d1
    lr = xp.where(both, -ell, -inf)                    # log(p/q)
    row_small = xp.all(small | ~both, axis=axis) & ~xp.any(pos & ~qpos, axis=axis)
    # p^a q^(1-a) = q exp(a lr). Shift by the largest log-ratio M so that a (lr - M) <= 0 never
    # overflows, even for a huge finite alpha:
    #   D_a = a/(a-1) M + 1/(a-1) log sum_i q_i exp(a (lr_i - M)).
    m_keep = xp.max(lr, axis=axis, keepdims=True)
    m_keep = xp.where(m_keep > -inf, m_keep, 0.0)   # disjoint supports: no term
    m = xp.squeeze(m_keep, axis=axis)
    terms = xp.where(both, lq + a_eff * (xp.where(both, lr, 0.0) - m_keep), -inf)
    # terms where p = 0 or q = 0 are 0 (-inf in log space), except p > 0 = q (+inf for alpha > 1)
    terms = xp.where(pos & ~qpos, inf, terms)
    lse = _xp.logsumexp(be, terms, axis)
    d2 = (a / (a - 1.0)) * m + lse / (a - 1.0)
    return xp.where(row_small, d1, d2)


def _max_float(dtype):
    return np.finfo(np.float64).max if _xp.float_eps(dtype) < 1e-10 else np.finfo(np.float32).max
