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

        d = rel_entr(p, q)
        bad = np.isinf(d) & (q > 0)  # the ratio overflowed (subnormal q): there log p - log q
        if bad.any():
            with np.errstate(divide="ignore"):
                d = np.where(bad, p * (np.log(np.where(bad, p, 1.0)) - np.log(np.where(bad, q, 1.0))), d)
        return d
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
    xp = be.xp
    with be.errstate():
        d = xp.sum(_plogpq(be, p, q), axis=axis)
        # >= 0 exactly: rounding of nearly equal distributions cannot make it negative (and no -0.0)
        d = xp.clip(d, min=0.0) + 0.0
    return be.finish(_in_base(d, log_base))


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
    return be.finish(d)


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
