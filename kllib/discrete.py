r"""Entropy, cross-entropy and KL divergence of discrete distributions.

Every function takes probability vectors (or logits, for :func:`kl_logits`) along
``axis`` (default ``-1``: each row is one distribution) and reduces over that axis.
NumPy in gives NumPy out (a NumPy scalar for a single distribution); torch in gives a
differentiable tensor, any other array-API array (JAX, ``array-api-strict``, ...) gives an array of
its own library. See :mod:`kllib._xp` for the dispatch and validation rules.

Conventions at the edges (Cover & Thomas 2006, section 2.3):

* :math:`0 \log 0 = 0` and :math:`0 \log (0/q) = 0`: an outcome with :math:`p = 0`
  contributes nothing, even when :math:`q = 0` too.
* :math:`p \log (p/0) = +\infty`: if :math:`p > 0` where :math:`q = 0` the result is
  ``inf``, never ``nan``.
* In torch the gradient is finite wherever :math:`p = 0` (those terms are masked with
  ``torch.where`` so that no ``0 * inf`` reaches autograd); the gradient with respect to a
  zero entry of ``p`` is reported as 0.

Accuracy near :math:`P \approx Q`. :func:`kl` computes each term as :math:`p \log(p/q)`, the way
:func:`scipy.special.rel_entr` does (the ratio is close to 1 and its logarithm keeps its digits, where
:math:`\log p - \log q` would cancel), and clips the sum at 0 so that rounding can never give a
negative divergence. :func:`kl_logits` uses the form :math:`\sum_i p_i (e^{t_i} - 1 - t_i)` with
:math:`t_i = \log(q_i/p_i)`, whose terms are all :math:`\ge 0`, so nothing cancels.
"""
from __future__ import annotations

import math

import numpy as np

from kllib import _xp

__all__ = ["entropy", "cross_entropy", "kl", "kl_logits"]


def _prepare_pq(p, q, axis, validate, base, names=("p", "q"), logits=False):
    _xp.check_validate(validate)
    log_base = _xp.check_base(base)
    be, (p, q) = _xp.prepare(p, q, names=names)
    shown = axis
    axis = _xp.check_axis(axis, (p, names[0]), (q, names[1]))
    _xp.check_broadcast([(p, names[0]), (q, names[1])], axis=axis)
    if validate:
        check = _xp.check_logits if logits else _xp.check_probs
        check(be, p, names[0], axis, shown)
        check(be, q, names[1], axis, shown)
    return be, p, q, axis, log_base


def _plogq(be, p, q):
    r"""Elementwise :math:`p \log q`, 0 where :math:`p = 0`, :math:`-\infty` where only :math:`q = 0`.

    Gradients are finite where :math:`p = 0`: the unused branch never sees ``log 0``.
    """
    xp = be.xp
    pos = p > 0
    q_safe = xp.where(pos, q, 1.0)
    return xp.where(pos, p * xp.log(q_safe), 0.0)


def _eager(be):
    """Whether data-dependent Python branches are allowed (not while tracing for vmap / compile / jit)."""
    return be.is_numpy or (be.is_torch and be.checkable)


def _plogpq(be, p, q):
    r"""Elementwise :math:`p \log(p/q)`, accurate near :math:`p = q`.

    Where :math:`1/2 < p/q < 2` the logarithm is ``log1p((p - q) / q)``: :math:`p - q` is exact there
    (Sterbenz), so the term keeps its relative accuracy as :math:`p \to q`, where ``log(p / q)`` (one
    rounding of a ratio close to 1) has an absolute error of :math:`\varepsilon` and
    :math:`\log p - \log q` even more; elsewhere ``log(p / q)``, and where the ratio overflows or
    underflows (subnormal :math:`q` or :math:`p`) :math:`\log p - \log q`. This is how
    :func:`scipy.special.rel_entr` computes it. Conventions of the module, and finite gradients at
    :math:`p = 0`.
    """
    if be.is_numpy:
        # scipy.special.rel_entr computes the same (log1p near p = q) in one C loop
        from scipy.special import rel_entr

        with np.errstate(divide="ignore"):
            return _fix_rel_entr_overflow(rel_entr(p, q), p, q)
    xp = torch = be.xp
    if be.is_torch:
        import torch
    pos = p > 0
    p_safe = torch.where(pos, p, 1.0)
    q_safe = torch.where(pos, q, 1.0)
    r = p_safe / q_safe
    near = (r > 0.5) & (r < 2.0)
    lr = torch.where(near, xp.log1p((p_safe - q_safe) / q_safe), xp.log(r))
    ok = (r > 0) & (r < math.inf)
    if _eager(be):
        if not bool(xp.all(ok)):
            lr = torch.where(ok, lr, xp.log(p_safe) - xp.log(q_safe))
    else:
        lr = torch.where(ok, lr, xp.log(p_safe) - xp.log(q_safe))
    return torch.where(pos, p * lr, 0.0)


def _js_terms(be, p, q):
    r"""Elementwise :math:`p \log(2p/(p + q))`, accurate near :math:`p = q`: there
    :math:`\log(2p/(p+q)) = \mathrm{log1p}((p - q)/(p + q))` with :math:`p - q` exact. Computed without
    forming :math:`m = (p + q)/2`, whose rounding alone costs an absolute :math:`\varepsilon`, and
    :math:`p + q` cannot underflow to 0 where :math:`p > 0` (as :math:`(p + q)/2` can for subnormal
    :math:`p`)."""
    xp = be.xp
    pos = p > 0
    p_safe = xp.where(pos, p, 1.0)
    s = xp.where(pos, p + q, 1.0)
    x = (p_safe - xp.where(pos, q, 1.0)) / s
    near = x > -0.5
    lr = xp.where(near, xp.log1p(xp.where(near, x, 0.0)), xp.log(2.0 * p_safe) - xp.log(s))
    return xp.where(pos, p * lr, 0.0)


def _in_base(x, log_base):
    return x if log_base is None else x / log_base


def entropy(p, *, base=None, axis=-1, validate=True):
    r"""Shannon entropy of a discrete distribution.

    .. math::

        \mathrm{H}(P) = -\sum_i p_i \log p_i

    Conventions: :math:`0 \log 0 = 0`, so outcomes with zero probability contribute
    nothing. :math:`0 \le \mathrm{H}(P) \le \log k` for :math:`k` outcomes.

    Parameters
    ----------
    p : array_like or torch.Tensor
        Probabilities; each slice along ``axis`` is one distribution (non-negative,
        summing to 1).
    base : float, optional
        Logarithm base: ``None`` (default) for nats, ``2`` for bits.
    axis : int, optional
        The axis that holds each distribution. Default ``-1`` (rows), unlike
        :func:`scipy.stats.entropy`, whose default is ``axis=0``.
    validate : bool, optional
        Check the input (default ``True``); ``False`` skips the checks in hot loops.

    Returns
    -------
    numpy.ndarray or numpy.floating or torch.Tensor
        The entropy of each distribution: the input shape without ``axis``. A NumPy
        scalar for a single NumPy/list distribution, a tensor for torch input.

    Raises
    ------
    ValueError
        If ``p`` has negative, NaN or infinite entries, or a slice does not sum to 1
        (tolerance ``1e-6`` for float64, ``1e-4`` for float32), or ``base`` is invalid.
    TypeError
        If ``p`` is not numeric (a string, a dict, ...).

    See Also
    --------
    cross_entropy, kl

    References
    ----------
    T. M. Cover and J. A. Thomas, *Elements of Information Theory*, 2nd ed., Wiley, 2006, ch. 2.

    Examples
    --------
    A fair coin carries one bit; a fair die :math:`\log 6` nats.

    >>> from kllib import entropy
    >>> float(entropy([0.5, 0.5], base=2))
    1.0
    >>> round(float(entropy([1/6] * 6)), 6)
    1.791759
    >>> entropy([[1.0, 0.0], [0.5, 0.5]], base=2)
    array([0., 1.])
    """
    _xp.check_validate(validate)
    log_base = _xp.check_base(base)
    be, (p,) = _xp.prepare(p, names=("p",))
    shown = axis
    axis = _xp.check_axis(axis, (p, "p"))
    if validate:
        _xp.check_probs(be, p, "p", axis, shown)
    with be.errstate():
        h = -be.xp.sum(_plogq(be, p, p), axis=axis)
        # -0.0 for a point mass reads oddly: turn it into +0.0.
        h = h + 0.0
    return be.finish(_in_base(h, log_base))


def cross_entropy(p, q, *, base=None, axis=-1, validate=True):
    r"""Cross-entropy of :math:`Q` relative to :math:`P`.

    .. math::

        \mathrm{H}(P, Q) = -\sum_i p_i \log q_i = \mathrm{H}(P) + D_{\mathrm{KL}}(P \,\|\, Q)

    Conventions: a term with :math:`p_i = 0` contributes 0 (also when :math:`q_i = 0`);
    :math:`p_i > 0` where :math:`q_i = 0` gives ``inf``.

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
        :math:`\mathrm{H}(P, Q)` for each pair of distributions (broadcast shape
        without ``axis``).

    Raises
    ------
    ValueError
        Invalid probabilities, shapes that do not broadcast, or an invalid ``base``.
    TypeError
        Non-numeric input.

    See Also
    --------
    entropy, kl

    References
    ----------
    T. M. Cover and J. A. Thomas, *Elements of Information Theory*, 2nd ed., Wiley, 2006, sec. 2.3.

    Examples
    --------
    >>> from kllib import cross_entropy
    >>> round(float(cross_entropy([0.5, 0.5], [0.9, 0.1], base=2)), 6)
    1.736966
    >>> float(cross_entropy([0.5, 0.5], [1.0, 0.0]))
    inf
    """
    be, p, q, axis, log_base = _prepare_pq(p, q, axis, validate, base)
    with be.errstate():
        h = -be.xp.sum(_plogq(be, p, q), axis=axis) + 0.0
    return be.finish(_in_base(h, log_base))


def kl(p, q, *, base=None, axis=-1, validate=True):
    r"""Kullback-Leibler divergence :math:`D_{\mathrm{KL}}(P \,\|\, Q)` of discrete distributions.

    .. math::

        D_{\mathrm{KL}}(P \,\|\, Q) = \sum_i p_i \log \frac{p_i}{q_i}

    It is :math:`\ge 0`, zero only when :math:`P = Q`, and not symmetric.

    Conventions: a term with :math:`p_i = 0` contributes 0, also when :math:`q_i = 0`;
    :math:`p_i > 0` where :math:`q_i = 0` gives ``inf`` (never ``nan``). With torch
    input the gradient is finite wherever :math:`p_i = 0`.

    Parameters
    ----------
    p, q : array_like or torch.Tensor
        Probabilities over the same outcomes along ``axis``; shapes must broadcast
        (e.g. ``p`` of shape ``(k,)`` against ``q`` of shape ``(n, k)``).
    base : float, optional
        Logarithm base: ``None`` (default) for nats, ``2`` for bits.
    axis : int, optional
        The axis that holds each distribution (default ``-1``).
    validate : bool, optional
        Check the inputs (default ``True``); ``False`` skips the checks in hot loops.

    Returns
    -------
    numpy.ndarray or numpy.floating or torch.Tensor
        The divergence of each pair (broadcast shape without ``axis``); a NumPy scalar for
        one pair of NumPy/list vectors.

    Raises
    ------
    ValueError
        Negative, NaN or infinite entries, a slice that does not sum to 1 (tolerance
        ``1e-6`` float64, ``1e-4`` float32), shapes that do not broadcast, or an invalid ``base``.
    TypeError
        Non-numeric input.

    See Also
    --------
    kl_logits : the same from logits, computed in log space.
    scipy.special.rel_entr : the elementwise terms (``kl(p, q) == rel_entr(p, q).sum(-1)``).

    References
    ----------
    S. Kullback and R. A. Leibler, "On information and sufficiency", *Ann. Math. Statist.*
    22(1):79-86, 1951.

    T. M. Cover and J. A. Thomas, *Elements of Information Theory*, 2nd ed., Wiley, 2006, sec. 2.3.

    Examples
    --------
    >>> from kllib import kl
    >>> p, q = [0.5, 0.5], [0.9, 0.1]
    >>> round(float(kl(p, q)), 6), round(float(kl(q, p)), 6)
    (0.510826, 0.368064)
    >>> round(float(kl(p, q, base=2)), 6)
    0.736966
    >>> float(kl([0.0, 1.0], [0.5, 0.5], base=2)), float(kl([0.5, 0.5], [1.0, 0.0]))
    (1.0, inf)
    """
    be, p, q, axis, log_base = _prepare_pq(p, q, axis, validate, base)
    fast = _kl_rel_entr(be, p, q, axis)
    if fast is not None:
        return be.finish(_in_base(fast, log_base))
    xp = be.xp
    with be.errstate():
        d = xp.sum(_plogpq(be, p, q), axis=axis)
        # >= 0 exactly: rounding of nearly equal distributions cannot make it negative (and no -0.0)
        d = xp.clip(d, min=0.0) + 0.0
    return be.finish(_in_base(d, log_base))


def _kl_rel_entr(be, p, q, axis):
    r"""The fast paths of :func:`kl`; ``None`` when they do not apply (then the general path runs).

    NumPy: :func:`scipy.special.rel_entr` (one C loop, log1p near p = q). torch, eager, no gradient
    needed: :math:`p\,\mathrm{log1p}((p - q)/q)` in place, one logarithm per entry. Near p = q,
    p - q is exact (Sterbenz); far from it the rounding of p - q costs at most about 13 ulp of the
    divergence (the term's share of the KL is then at least 0.15 q, resp. 0.19 p). Zero
    probabilities and overflowing ratios go to the general path.
    """
    if be.is_numpy:
        from scipy.special import rel_entr

        with np.errstate(all="ignore"):
            e = rel_entr(p, q)
            d = e.sum(axis=axis)
            if not np.all(np.isfinite(d)):
                d = np.sum(_fix_rel_entr_overflow(e, p, q), axis=axis)
            return np.maximum(d, 0.0) + 0.0  # >= 0 exactly, and no -0.0
    if not (be.is_torch and be.checkable) or p.numel() == 0 or q.numel() == 0:
        return None
    torch = _xp._torch()
    if torch.is_grad_enabled() and (p.requires_grad or q.requires_grad):
        return None
    if not _xp.plain_torch(torch):
        return None
    with torch.no_grad():
        t = p - q
        t.div_(q)
        if not bool((torch.amin(p) > 0) & (torch.amax(t) < math.inf)):
            return None
        t.log1p_().mul_(p)
        d = t.sum(dim=axis)
        return d.clamp_(min=0.0).add_(0.0)


def _fix_rel_entr_overflow(d, p, q):
    """Where p/q overflowed (subnormal q), p (log p - log q) instead of inf."""
    bad = np.isinf(d) & (q > 0)
    if bad.any():
        d = np.where(bad, p * (np.log(np.where(bad, p, 1.0)) - np.log(np.where(bad, q, 1.0))), d)
    return d


def kl_logits(logits_p, logits_q, *, axis=-1, validate=True):
    r"""KL divergence between two categorical distributions given by logits.

    .. math::

        \log p_i = z^p_i - \operatorname{logsumexp}(z^p), \qquad
        D_{\mathrm{KL}}(P \,\|\, Q) = \sum_i p_i\,(\log p_i - \log q_i)

    The log-probabilities come from ``log_softmax``, so nothing overflows: logits of
    magnitude :math:`10^4` are fine (a naive ``softmax`` then ``log`` is not).

    Conventions: a logit of ``-inf`` means probability 0. Terms with :math:`p_i = 0`
    (including probabilities that underflow to 0) contribute 0 and, in torch, get a zero
    gradient while every other gradient stays finite. (``torch.distributions.kl_divergence``
    between two ``Categorical`` returns the right value there but a ``nan`` gradient.)
    A ``-inf`` logit in ``q`` where :math:`p_i > 0` gives ``inf``; the gradient with respect to
    ``logits_q`` is still finite (:math:`q - p`), the one with respect to ``logits_p`` is undefined there
    (non-finite), as in :func:`kllib.vocab.kl_logits_chunked`. Results are in nats.

    For a language-model vocabulary too large to hold two full ``log_softmax`` outputs at
    once, ``kllib.kl_logits_chunked`` computes the same in chunks.

    Parameters
    ----------
    logits_p, logits_q : array_like or torch.Tensor
        Unnormalised log-probabilities (any additive constant per distribution), over
        the same outcomes along ``axis``. Entries may be ``-inf``, not ``nan`` or ``+inf``.
    axis : int, optional
        The axis that holds each distribution (default ``-1``).
    validate : bool, optional
        Check the inputs (default ``True``).

    Returns
    -------
    numpy.ndarray or numpy.floating or torch.Tensor
        :math:`D_{\mathrm{KL}}(P \,\|\, Q)` in nats, broadcast shape without ``axis``.

    Raises
    ------
    ValueError
        NaN or ``+inf`` logits, a distribution whose logits are all ``-inf``, or shapes
        that do not broadcast.
    TypeError
        Non-numeric input.

    See Also
    --------
    kl : the same from probabilities.

    References
    ----------
    S. Kullback and R. A. Leibler, "On information and sufficiency", *Ann. Math. Statist.*
    22(1):79-86, 1951.

    Examples
    --------
    >>> import numpy as np
    >>> from kllib import kl, kl_logits
    >>> zp, zq = np.array([2.0, 0.0, -1.0]), np.array([0.0, 0.0, 0.0])
    >>> p = np.exp(zp) / np.exp(zp).sum()
    >>> bool(np.isclose(kl_logits(zp, zq), kl(p, [1/3, 1/3, 1/3])))
    True
    >>> round(float(kl_logits(zp, zq)), 6), round(float(kl_logits(zp + 1e4, zq - 1e4)), 6)
    (0.574346, 0.574346)
    >>> float(kl_logits([0.0, -np.inf], [0.0, 0.0]))   # P = (1, 0), Q = (1/2, 1/2)
    0.6931471805599453
    """
    be, zp, zq, axis, _ = _prepare_pq(
        logits_p, logits_q, axis, validate, None, names=("logits_p", "logits_q"), logits=True
    )
    fast = _kl_logits_fast(be, zp, zq, axis)
    if fast is not None:
        return be.finish(fast)
    return be.finish(_kl_logits_general(be, zp, zq, axis))


def _kl_logits_general(be, zp, zq, axis):
    """:func:`kl_logits` in any namespace, also while tracing (torch.func, torch.compile, JAX)."""
    xp = be.xp
    with be.errstate():
        lse_p = _xp.logsumexp(be, zp, axis, keepdims=True)
        lse_q = _xp.logsumexp(be, zq, axis, keepdims=True)
        p = xp.exp(zp - lse_p)
        pos = p > 0
        # t = log(q / p) = (z_q - z_p) + (lse_p - lse_q); KL = sum_i p_i (e^t_i - 1 - t_i), because
        # sum_i p_i e^t_i = sum_i q_i = 1. Every term is >= 0, so nothing cancels near P = Q, and an error
        # e in the shift lse_p - lse_q changes the sum only by e^e - 1 - e (second order).
        t = xp.where(pos, zq - zp, 0.0) + (lse_p - lse_q)
        d = _p_expm1_minus_x(be, p, t, zq - lse_q, pos)
        d = xp.sum(d, axis=axis)
        d = xp.clip(d, min=0.0) + 0.0
    return d


def _p_expm1_minus_x(be, p, t, lq, pos):
    r""":math:`p (e^t - 1 - t)` elementwise where ``pos``, and :math:`q = e^{\log q}` where not; never overflowing.

    Summed, this is :math:`\sum_i p_i \log(p_i/q_i) - p_i + q_i`, the KL divergence of two normalised
    distributions, with every term :math:`\ge 0`. ``expm1(t) - t`` keeps a relative accuracy of about
    :math:`\varepsilon / |t|`. Where :math:`e^t` could overflow (:math:`t` large, so :math:`p` is tiny)
    :math:`p e^t = q` is used instead.
    """
    xp = be.xp
    big = _big_exponent(be.dtype)
    if _eager(be):
        if not bool(xp.any(t > big)):
            d = p * (xp.expm1(t) - t)
        else:
            d = _p_expm1_minus_x_big(be, p, t, lq, big)
        if bool(xp.all(pos)):
            return d
    else:
        d = _p_expm1_minus_x_big(be, p, t, lq, big)
    # outcomes with p = 0 (a -inf logit, or underflow) contribute their q
    return xp.where(pos, d, xp.exp(xp.where(pos, 0.0, lq)))


def _p_expm1_minus_x_big(be, p, t, lq, big):
    xp = be.xp
    small = t <= big
    ts = xp.where(small, t, 0.0)
    a = p * (xp.expm1(ts) - ts)
    tb = xp.where(small, 0.0, t)
    b = xp.exp(xp.where(small, 0.0, lq)) - p * (1.0 + tb)
    return xp.where(small, a, b)


def _big_exponent(dtype):
    """Half the log of the largest finite number of ``dtype``: e^t stays far from overflow below it."""
    return 40.0 if _xp.float_eps(dtype) > 1e-10 else 350.0


# --------------------------------------------------------------------------- fast paths of kl_logits
def _kl_logits_parts_numpy(zp, zq, axis, big):
    """NumPy: the same formula as the general path, with in-place operations and three exponentials per
    entry. The divergence, or ``None`` when an edge case (a zero probability, a huge t, NaN) needs the
    general path."""
    with np.errstate(all="ignore"):
        m_p = zp.max(axis=axis, keepdims=True)
        p = zp - m_p
        np.exp(p, out=p)
        s_p = p.sum(axis=axis, keepdims=True)
        p /= s_p
        m_q = zq.max(axis=axis, keepdims=True)
        q = zq - m_q
        np.exp(q, out=q)
        s_q = q.sum(axis=axis, keepdims=True)
        shift = (m_p + np.log(s_p)) - (m_q + np.log(s_q))  # lse_p - lse_q
        t = zq - zp  # exact-ish near P = Q, as in the general path
        t += shift
        if not (p.min() > 0 and t.max() <= big):
            return None
        e = np.expm1(t)
        e -= t
        e *= p
        d = e.sum(axis=axis)
        d = np.maximum(d, 0.0) + 0.0
    return d


def _kl_logits_parts_torch(torch, zp, zq, axis, big, need_q=False):
    """torch (no autograd recording): the same as :func:`_kl_logits_parts_numpy`; ``(d, p, t, q)`` or ``None``."""
    with torch.no_grad():
        m_p = torch.amax(zp, dim=axis, keepdim=True)
        p = zp - m_p
        p.exp_()
        s_p = p.sum(dim=axis, keepdim=True)
        p.div_(s_p)
        m_q = torch.amax(zq, dim=axis, keepdim=True)
        q = zq - m_q
        q.exp_()
        s_q = q.sum(dim=axis, keepdim=True)
        if need_q:  # only the gradient with respect to logits_q needs q
            q.div_(s_q)
        shift = (m_p + s_p.log_()) - (m_q + s_q.log_())
        t = zq - zp
        t.add_(shift)
        if not bool((torch.amin(p) > 0) & (torch.amax(t) <= big)):
            return None
        e = torch.expm1(t)
        e.sub_(t).mul_(p)
        d = e.sum(dim=axis)
        d.clamp_(min=0.0).add_(0.0)
    return d, p, t, q


def _kl_logits_fast(be, zp, zq, axis):
    if be.is_numpy:
        if zp.size == 0 or zq.size == 0:
            return None
        return _kl_logits_parts_numpy(zp, zq, axis, _big_exponent(be.dtype))
    if not (be.is_torch and be.checkable) or zp.numel() == 0 or zq.numel() == 0:
        return None
    torch = _xp._torch()
    if not _xp.plain_torch(torch):
        return None
    need_grad = torch.is_grad_enabled() and (zp.requires_grad or zq.requires_grad)
    if not need_grad:
        parts = _kl_logits_parts_torch(torch, zp, zq, axis, _big_exponent(be.dtype))
        return None if parts is None else parts[0]
    out = _KLLogits.apply(zp, zq, axis, _big_exponent(be.dtype))
    return None if out[1] is None else out[0]


def _make_kl_logits_function():
    import torch

    class KLLogits(torch.autograd.Function):
        """kl_logits for plain eager autograd (not used under torch.func or torch.compile, which take the
        general path): the forward without recording, and the analytic gradient
        d/dz_p = p (log(p/q) - KL), d/dz_q = q - p. A double backward (create_graph=True) differentiates
        the general formula again, so higher derivatives stay right."""

        @staticmethod
        def forward(zp, zq, axis, big):
            parts = _kl_logits_parts_torch(torch, zp, zq, axis, big, need_q=zq.requires_grad)
            if parts is None:
                return zp.new_zeros(()), None, None, None
            return parts

        @staticmethod
        def setup_context(ctx, inputs, output):
            zp, zq, axis, big = inputs
            d, p, t, q = output
            ctx.axis = axis
            ctx.ok = p is not None
            if ctx.ok:
                ctx.mark_non_differentiable(p, t, q)
                ctx.save_for_backward(zp, zq, d, p, t, q)

        @staticmethod
        def backward(ctx, g, *unused):
            zp, zq, d, p, t, q = ctx.saved_tensors
            axis = ctx.axis
            if torch.is_grad_enabled():  # create_graph=True: differentiate the general formula
                with torch.enable_grad():
                    be = _xp.Backend(_xp._xtorch(), zp.dtype, zp.dtype, zp.device, "torch", False)
                    ins = [x for x in (zp, zq) if x.requires_grad]
                    out = _kl_logits_general(be, zp, zq, axis)
                    grads = torch.autograd.grad(out, ins, g, create_graph=True, allow_unused=True)
                it = iter(grads)
                return tuple(next(it) if x.requires_grad else None for x in (zp, zq)) + (None, None)
            ga = g.unsqueeze(axis)
            gzp = gzq = None
            if ctx.needs_input_grad[0]:
                gzp = torch.add(t, d.unsqueeze(axis)).mul_(p).mul_(-ga).sum_to_size(zp.shape)
            if ctx.needs_input_grad[1]:
                gzq = ((q - p) * ga).sum_to_size(zq.shape)
            return gzp, gzq, None, None

    return KLLogits


_KLLogits = _xp._LazyFunction(_make_kl_logits_function)
