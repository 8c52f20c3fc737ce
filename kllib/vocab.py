r"""Full-vocabulary KL and Jensen-Shannon divergence over language-model logits, chunked.

A language model gives, for each of ``N`` token positions, a vector of ``V`` logits
(``V`` is the vocabulary size: 32k to 128k). The exact KL divergence between two
such models sums over the whole vocabulary at every position. Written the obvious
way, ``F.kl_div(F.log_softmax(lq, -1), F.log_softmax(lp, -1), log_target=True)``,
autograd keeps several ``[N, V]`` intermediates alive until the backward pass: for
``N = 4096`` and ``V = 128k`` each of them is about 2 GB in float32.

The two functions here never hold more than ``chunk_size`` rows of probabilities at a
time. They walk over the rows in chunks, upcast each chunk to float32 (or keep
float64), accumulate in that precision, and in the backward pass recompute
``log_softmax`` chunk by chunk instead of saving it. Besides the inputs they save only
one or two numbers per row.

Both functions are torch-only: they take and return ``torch.Tensor``.
"""
from __future__ import annotations

import math

import torch

__all__ = ["kl_logits_chunked", "js_logits_chunked", "default_chunk_size", "CHUNK_BYTES"]

_REDUCTIONS = ("batchmean", "sum", "none")
_LOG2 = math.log(2.0)
_NEG_INF = float("-inf")
_POS_INF = float("inf")

#: Budget of one chunk, in bytes of one float32 ``[chunk, V]`` buffer (1 MiB). A handful of
#: such buffers are live at once, so a chunk's working set stays in the CPU caches. On the
#: course machine, chunks of 2 to 32 rows at V = 32768 (0.25 to 4 MiB) were equally fast and
#: 512 rows twice as slow; see ``benchmarks/kl_memory.py`` and ``book/benchmarks.md``.
CHUNK_BYTES = 1 << 20


def default_chunk_size(n_rows, vocab_size):
    """Rows per chunk used when ``chunk_size=None``.

    Chosen from a byte budget: ``max(1, CHUNK_BYTES // (4 * vocab_size))`` rows, so one
    float32 ``[chunk, V]`` buffer is about :data:`CHUNK_BYTES` (1 MiB) whatever the
    vocabulary size (8 rows for ``V = 32768``, 2 rows for ``V = 128000``), and at most
    ``n_rows``.

    Examples
    --------
    >>> default_chunk_size(4096, 32768)
    8
    >>> default_chunk_size(3, 10)
    3
    """
    return max(1, min(int(n_rows), CHUNK_BYTES // (4 * max(int(vocab_size), 1))))


# --------------------------------------------------------------------------- validation

def _check_tensor(name: str, x) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(
            f"{name} must be a torch.Tensor of logits with shape [N, V], got {type(x).__name__}; "
            f"convert it with torch.as_tensor({name})."
        )
    if not x.is_floating_point():
        raise TypeError(
            f"{name} has dtype {x.dtype}; logits must be floating point "
            f"(float32, float64, bfloat16 or float16): use {name}.float()."
        )
    if x.dim() != 2:
        shape = tuple(x.shape)
        hint = (
            f"flatten the leading dimensions with {name}.reshape(-1, {name}.shape[-1])"
            if x.dim() > 2
            else f"add a row dimension with {name}.reshape(1, -1)" if x.dim() == 1
            else "pass a 2-D tensor [N, V]"
        )
        raise ValueError(
            f"{name} must be 2-D with shape [N, V] (token positions x vocabulary), got shape "
            f"{shape}; {hint}."
        )


def _check_inputs(logits_p, logits_q, reduction, chunk_size, validate=True) -> None:
    if not isinstance(validate, bool):
        raise TypeError(f"validate must be True or False, got {validate!r}.")
    _check_tensor("logits_p", logits_p)
    _check_tensor("logits_q", logits_q)
    if logits_p.shape != logits_q.shape:
        raise ValueError(
            f"logits_p and logits_q must have the same shape [N, V], got {tuple(logits_p.shape)} "
            f"and {tuple(logits_q.shape)}; both must score the same N tokens over the same vocabulary."
        )
    if logits_p.device != logits_q.device:
        raise ValueError(
            f"logits_p is on {logits_p.device} and logits_q on {logits_q.device}; move both to one device."
        )
    n, v = logits_p.shape
    if n == 0 or v == 0:
        raise ValueError(f"logits must have at least one row and one column, got shape {(n, v)}.")
    if reduction == "mean":
        raise ValueError(
            "reduction='mean' is not offered: in torch it divides the sum by N*V (the number of "
            "elements), which is not a KL divergence. Use reduction='batchmean' for the mean over "
            "the N rows (what you almost certainly want), or reduction='sum' and divide by N*V to "
            "reproduce torch's number."
        )
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}.")
    if chunk_size is not None:
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
            raise ValueError(f"chunk_size must be a positive int (rows per chunk) or None, got {chunk_size!r}.")


def _raise_bad_rows(name: str, x: torch.Tensor, row_max: torch.Tensor, offset: int) -> None:
    """Raise a ValueError naming the first row of ``x`` whose max is not finite."""
    bad = (~torch.isfinite(row_max)).nonzero()
    if bad.numel() == 0:
        return
    i = int(bad[0, 0])
    r = offset + i
    m = float(row_max[i])
    if math.isnan(m):
        raise ValueError(
            f"{name} contains NaN (first in row {r}); NaN logits usually come from an overflow "
            f"upstream: check the model's activations."
        )
    if m > 0:
        raise ValueError(
            f"{name} contains +inf (first in row {r}); logits must be finite or -inf "
            f"(-inf means probability zero)."
        )
    raise ValueError(
        f"row {r} of {name} is all -inf, which is not a distribution: every row needs at "
        f"least one finite logit."
    )


# --------------------------------------------------------------------------- kernels

def _log_softmax(x, ctype):
    return torch.log_softmax(x.to(ctype), dim=-1)


def _softmax(x, ctype):
    return torch.softmax(x.to(ctype), dim=-1)


def _lse_checked(name, x, offset, validate):
    """Row-wise logsumexp; with ``validate``, raise if a row has a NaN, a +inf or only -inf logits
    (each makes the row's logsumexp non-finite, which a valid row's never is)."""
    lse = torch.logsumexp(x, dim=-1, keepdim=True)
    if validate and not bool(torch.isfinite(lse).all()):
        _raise_bad_rows(name, x, x.amax(dim=-1), offset)
        raise ValueError(f"{name} gives non-finite log-probabilities (rows {offset} to {offset + len(x) - 1}).")
    return lse


_BIG = 40.0  # e^t - 1 - t is computed as q - p (1 + t) above this t, where p is tiny and e^t could overflow


def _kl_chunk(xp, xq, ctype, validate, offset):
    """Per-row KL(P || Q) for one chunk of rows, in ``ctype``.

    With t = log(q / p) = (z_q - z_p) + (lse_p - lse_q), KL = sum_v p (e^t - 1 - t) + sum_{p = 0} q: every
    term is >= 0, so nothing cancels near P = Q (the plain p (log p - log q) can even go negative), and an
    error in the shift lse_p - lse_q enters only at second order.
    """
    xp, xq = xp.to(ctype), xq.to(ctype)
    lse_p = _lse_checked("logits_p", xp, offset, validate)
    lse_q = _lse_checked("logits_q", xq, offset, validate)
    p = torch.exp(xp - lse_p)
    q = torch.exp(xq - lse_q)
    t = (xq - xp).add_(lse_p - lse_q)
    tc = t.clamp(max=_BIG)
    term = torch.expm1(tc).sub_(tc).mul_(p)
    term = torch.where(t > _BIG, q - p * (1.0 + t), term)
    term = torch.where(p > 0, term, q)
    return term.sum(dim=-1).clamp_(min=0.0)


def _js_chunk(xp, xq, ctype, validate, offset):
    """Per-row (KL(P || M), KL(Q || M)) with M = (P + Q) / 2, for one chunk of rows.

    As for KL, each is summed as sum_v p (e^t - 1 - t) + sum_{p = 0} m with t = log(m / p) =
    log((1 + e^s) / 2), s = log(q / p), written as max(s, 0) + log1p(expm1(-|s|) / 2) so that nothing
    overflows and nothing cancels near P = Q; p (e^t - 1) = (q - p) / 2 = p expm1(s) / 2.
    """
    xp, xq = xp.to(ctype), xq.to(ctype)
    lse_p = _lse_checked("logits_p", xp, offset, validate)
    lse_q = _lse_checked("logits_q", xq, offset, validate)
    p = torch.exp(xp - lse_p)
    q = torch.exp(xq - lse_q)
    s = (xq - xp).add_(lse_p - lse_q)
    ell = torch.log1p(torch.expm1(-s.abs()).mul_(0.5))

    def half_kl(a, b, s_ab):
        # a (e^t - 1 - t) with t = log(m / a), s_ab = log(b / a); a (e^t - 1) = (b - a) / 2
        t = s_ab.clamp(min=0.0).add_(ell)
        e = torch.where(s_ab > 1.0, 0.5 * (b - a), 0.5 * a * torch.expm1(s_ab.clamp(max=1.0)))
        return torch.where(a > 0, e - a * t, 0.5 * b).sum(dim=-1).clamp_(min=0.0)

    return half_kl(p, q, s), half_kl(q, p, -s)


def _row_scale(grad_out, reduction, i, j, n, ctype):
    """The factor d(output)/d(row value) times the incoming gradient, shaped [rows, 1]."""
    if reduction == "none":
        return grad_out[i:j].to(ctype).unsqueeze(1)
    g = grad_out.to(ctype)
    if reduction == "batchmean":
        g = g / n
    return g.reshape(1, 1)


def _reduce(rows, reduction, n):
    if reduction == "none":
        return rows
    total = rows.sum()
    return total / n if reduction == "batchmean" else total


def _chunks(n, chunk_size):
    for i in range(0, n, chunk_size):
        yield i, min(i + chunk_size, n)


def _compute_dtype(a: torch.Tensor, b: torch.Tensor) -> torch.dtype:
    return torch.promote_types(torch.promote_types(a.dtype, b.dtype), torch.float32)


class _KLLogitsChunked(torch.autograd.Function):
    """Chunked KL with a hand-written backward, in the form torch.func needs: a ``forward`` without
    ``ctx`` (it also returns the per-row values, which are not differentiable) and a ``setup_context``.
    The backward is once-differentiable: no second derivatives (``torch.func.hessian`` raises)."""

    @staticmethod
    def forward(logits_p, logits_q, reduction, chunk_size, validate):
        n, v = logits_p.shape
        ctype = _compute_dtype(logits_p, logits_q)
        rows = torch.empty(n, dtype=ctype, device=logits_p.device)
        with torch.no_grad():
            for i, j in _chunks(n, chunk_size):
                rows[i:j] = _kl_chunk(logits_p[i:j], logits_q[i:j], ctype, validate, i)
        return _reduce(rows, reduction, n).clone(), rows  # clone: the output must not be `rows` itself

    @staticmethod
    def setup_context(ctx, inputs, output):
        logits_p, logits_q, reduction, chunk_size, _ = inputs
        _, rows = output
        ctx.mark_non_differentiable(rows)
        ctx.save_for_backward(logits_p, logits_q, rows)
        ctx.reduction, ctx.chunk_size = reduction, chunk_size
        ctx.ctype = _compute_dtype(logits_p, logits_q)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out, _grad_rows):
        logits_p, logits_q, rows = ctx.saved_tensors
        need_p, need_q = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        n, v = logits_p.shape
        ctype = ctx.ctype
        gp = torch.empty_like(logits_p) if need_p else None
        gq = torch.empty_like(logits_q) if need_q else None
        for i, j in _chunks(n, ctx.chunk_size):
            g = _row_scale(grad_out, ctx.reduction, i, j, n, ctype)
            xp = logits_p[i:j].to(ctype)
            lp = torch.log_softmax(xp, dim=-1)
            p = torch.softmax(xp, dim=-1)
            if need_q:
                # dKL/dz_q = q - p.
                gq[i:j].copy_(_softmax(logits_q[i:j], ctype).sub_(p).mul_(g))
            if not need_p:
                continue
            lq = _log_softmax(logits_q[i:j], ctype)
            # dKL/dz_p = p * (log p - log q - KL_row); 0 where p = 0.
            t = lp.sub_(lq).sub_(rows[i:j].unsqueeze(1)).mul_(p).mul_(g)
            t = torch.nan_to_num_(t, nan=0.0, posinf=_POS_INF, neginf=_NEG_INF)
            inf_rows = torch.isinf(rows[i:j])
            if bool(inf_rows.any()):
                t[inf_rows] = float("nan")  # KL is +inf: no gradient.
            gp[i:j].copy_(t)
        return gp, gq, None, None, None


class _JSLogitsChunked(torch.autograd.Function):
    """Chunked JS, in the torch.func form (see :class:`_KLLogitsChunked`)."""

    @staticmethod
    def forward(logits_p, logits_q, reduction, chunk_size, validate):
        n, v = logits_p.shape
        ctype = _compute_dtype(logits_p, logits_q)
        kl_pm = torch.empty(n, dtype=ctype, device=logits_p.device)
        kl_qm = torch.empty(n, dtype=ctype, device=logits_p.device)
        with torch.no_grad():
            for i, j in _chunks(n, chunk_size):
                kl_pm[i:j], kl_qm[i:j] = _js_chunk(logits_p[i:j], logits_q[i:j], ctype, validate, i)
        # each row in [0, log 2] exactly, whatever the rounding
        return _reduce((0.5 * (kl_pm + kl_qm)).clamp_(0.0, _LOG2), reduction, n).clone(), kl_pm, kl_qm

    @staticmethod
    def setup_context(ctx, inputs, output):
        logits_p, logits_q, reduction, chunk_size, _ = inputs
        _, kl_pm, kl_qm = output
        ctx.mark_non_differentiable(kl_pm, kl_qm)
        ctx.save_for_backward(logits_p, logits_q, kl_pm, kl_qm)
        ctx.reduction, ctx.chunk_size = reduction, chunk_size
        ctx.ctype = _compute_dtype(logits_p, logits_q)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out, _g1, _g2):
        logits_p, logits_q, kl_pm, kl_qm = ctx.saved_tensors
        need_p, need_q = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        n, v = logits_p.shape
        ctype = ctx.ctype
        gp = torch.empty_like(logits_p) if need_p else None
        gq = torch.empty_like(logits_q) if need_q else None
        for i, j in _chunks(n, ctx.chunk_size):
            g = 0.5 * _row_scale(grad_out, ctx.reduction, i, j, n, ctype)
            xp, xq = logits_p[i:j].to(ctype), logits_q[i:j].to(ctype)
            lp = torch.log_softmax(xp, dim=-1)
            lq = torch.log_softmax(xq, dim=-1)
            lm = torch.logaddexp(lp, lq).sub_(_LOG2)
            # dJS/dz_p = p * (log p - log m - KL(P || M)_row) / 2, and the same for q.
            for need, x, la, kl, out in ((need_p, xp, lp, kl_pm, gp), (need_q, xq, lq, kl_qm, gq)):
                if not need:
                    continue
                t = la.sub_(lm).sub_(kl[i:j].unsqueeze(1))
                t.mul_(torch.softmax(x, dim=-1)).mul_(g)
                out[i:j].copy_(torch.nan_to_num_(t, nan=0.0))
        return gp, gq, None, None, None


# --------------------------------------------------------------------------- public API

def kl_logits_chunked(logits_p, logits_q, *, reduction="batchmean", chunk_size=None, validate=True):
    r"""KL(P ‖ Q) between two batches of categorical distributions given as logits, chunked.

    With :math:`P_n = \operatorname{softmax}(z^p_n)` and :math:`Q_n = \operatorname{softmax}(z^q_n)`
    for each row :math:`n` of the ``[N, V]`` logits,

    .. math::

        \mathrm{KL}_n = \sum_{v=1}^{V} p_{nv} \left(\log p_{nv} - \log q_{nv}\right),
        \qquad \log p_{nv} = z^p_{nv} - \log \sum_{u} e^{z^p_{nu}},

    in nats, reduced over the rows as ``reduction`` says. The gradients, per row, are

    .. math::

        \frac{\partial \mathrm{KL}_n}{\partial z^q_{nv}} = q_{nv} - p_{nv},
        \qquad
        \frac{\partial \mathrm{KL}_n}{\partial z^p_{nv}}
        = p_{nv} \left(\log p_{nv} - \log q_{nv} - \mathrm{KL}_n\right).

    Parameters
    ----------
    logits_p, logits_q : torch.Tensor
        Shape ``[N, V]``: unnormalised log-probabilities of P and Q (any additive constant per row is
        fine). float32, float64, bfloat16 or float16; they may differ. A language
        model's ``[batch, seq, V]`` output is passed as ``logits.reshape(-1, V)``.
    reduction : str
        ``"batchmean"`` (the default): the sum over rows divided by N (the mean KL per token, what
        ``F.kl_div(..., reduction="batchmean")`` gives for 2-D input). ``"sum"``: the sum
        over rows. ``"none"``: the ``[N]`` per-row values. torch's ``"mean"`` is not
        offered: it divides by ``N * V``, which is not a KL divergence.
    chunk_size : int or None
        Rows per chunk. ``None`` (the default) picks :func:`default_chunk_size` (a 1 MiB float32
        chunk: 8 rows for ``V = 32768``). The result does not depend on it, up to
        rounding.
    validate : bool
        ``True`` (the default): check every row for NaN, +inf and all -inf logits, chunk by chunk, and raise a
        ``ValueError`` naming the row (this costs almost nothing: such rows, and only they, make
        the row's ``logsumexp`` non-finite, and that is computed anyway). Skipped while ``torch.compile``
        traces. ``False`` skips these checks (type and shape are always
        checked); bad rows then give meaningless values, not necessarily NaN.

    Returns
    -------
    torch.Tensor
        A scalar, or shape ``[N]`` for ``reduction="none"``. Its dtype is float32 for
        float32, bfloat16 and float16 inputs (computed and accumulated in float32) and
        float64 if either input is float64. Gradients come back in each input's own dtype.

    Notes
    -----
    *Edges* (as in :func:`kllib.kl_logits`). A ``-inf`` logit means probability zero.
    Terms with :math:`p_{nv} = 0` (including probabilities that underflow to 0 in the
    compute dtype) contribute 0 and get gradient 0. A row where :math:`p_{nv} > 0` and
    ``logits_q`` is ``-inf`` has :math:`\mathrm{KL}_n = +\infty`; the gradient of such a row
    with respect to ``logits_p`` is NaN (undefined), that with respect to ``logits_q``
    is still :math:`q - p`. All other gradients are finite.

    *Memory.* The forward and backward passes walk over the rows ``chunk_size`` at a
    time. Besides the inputs, autograd keeps only the ``[N]`` per-row values; the
    backward pass recomputes ``log_softmax`` for each chunk. Peak extra memory is
    therefore the ``[N, V]`` gradients themselves plus a handful of ``[chunk_size, V]``
    float32 buffers (about 5 MiB with the default chunk), against four ``[N, V]``
    intermediates for the unchunked ``F.kl_div(F.log_softmax(...), ...)``. Measured on
    ``book/benchmarks.md``.
    Second derivatives are not supported.

    Examples
    --------
    >>> import torch
    >>> from kllib.vocab import kl_logits_chunked
    >>> lp = torch.tensor([[0.0, 0.0], [0.0, float("-inf")]])
    >>> lq = torch.tensor([[0.0, 0.0], [0.0, 0.0]])
    >>> kl_logits_chunked(lp, lq, reduction="none")  # row 2: 1 * log(1 / 0.5) = log 2
    tensor([0.0000, 0.6931])
    >>> kl_logits_chunked(lq, lp, reduction="none")  # Q has a zero where P has not
    tensor([0., inf])

    It matches the unchunked ``F.kl_div`` with ``log_target=True``:

    >>> import torch.nn.functional as F
    >>> g = torch.Generator().manual_seed(0)
    >>> zp, zq = torch.randn(5, 7, generator=g), torch.randn(5, 7, generator=g)
    >>> ref = F.kl_div(F.log_softmax(zq, -1), F.log_softmax(zp, -1), log_target=True,
    ...                reduction="batchmean")
    >>> torch.allclose(kl_logits_chunked(zp, zq, chunk_size=2), ref)
    True

    References
    ----------
    S. Kullback and R. A. Leibler, "On information and sufficiency", *Ann. Math. Statist.*
    22(1):79-86, 1951.
    """
    _check_inputs(logits_p, logits_q, reduction, chunk_size, validate)
    n, v = logits_p.shape
    cs = default_chunk_size(n, v) if chunk_size is None else int(chunk_size)
    return _KLLogitsChunked.apply(logits_p, logits_q, reduction, cs, _checkable(validate, logits_p, logits_q))[0]


def js_logits_chunked(logits_p, logits_q, *, reduction="batchmean", chunk_size=None, validate=True):
    r"""Jensen-Shannon divergence between two batches of categorical distributions given as logits, chunked.

    With :math:`P_n = \operatorname{softmax}(z^p_n)`, :math:`Q_n = \operatorname{softmax}(z^q_n)`
    and the mixture :math:`M_n = (P_n + Q_n)/2`,

    .. math::

        \mathrm{JS}_n = \tfrac12 \mathrm{KL}(P_n \,\|\, M_n) + \tfrac12 \mathrm{KL}(Q_n \,\|\, M_n),
        \qquad \log m_{nv} = \operatorname{logaddexp}(\log p_{nv}, \log q_{nv}) - \log 2,

    in nats, reduced over the rows as ``reduction`` says. :math:`\log m` is computed in
    log space, so it is exact even where both probabilities underflow. The value is
    symmetric in P and Q and lies in :math:`[0, \log 2]` per row. The gradient is

    .. math::

        \frac{\partial \mathrm{JS}_n}{\partial z^p_{nv}}
        = \tfrac12\, p_{nv} \left(\log p_{nv} - \log m_{nv} - \mathrm{KL}(P_n \,\|\, M_n)\right),

    and the same with P and Q swapped.

    Parameters
    ----------
    logits_p, logits_q : torch.Tensor
        Shape ``[N, V]``: unnormalised log-probabilities (see :func:`kl_logits_chunked`).
    reduction : str
        ``"batchmean"`` (the default), ``"sum"`` or ``"none"``, as in :func:`kl_logits_chunked`.
    chunk_size : int or None
        Rows per chunk; ``None`` (the default) picks :func:`default_chunk_size`.
    validate : bool
        Check every row for NaN, +inf and all -inf logits (see :func:`kl_logits_chunked`).

    Returns
    -------
    torch.Tensor
        A scalar, or shape ``[N]`` for ``reduction="none"``; float32 for float32,
        bfloat16 and float16 inputs, float64 if either input is float64.

    Notes
    -----
    A ``-inf`` logit means probability zero; those terms contribute 0 and get gradient
    0. Unlike KL, JS is always finite: :math:`m > 0` wherever :math:`p > 0` or
    :math:`q > 0`, and disjoint supports give exactly :math:`\log 2`. Memory behaviour
    as in :func:`kl_logits_chunked` (two numbers per row are saved for the backward pass).

    Examples
    --------
    >>> import torch
    >>> from kllib.vocab import js_logits_chunked
    >>> ninf = float("-inf")
    >>> lp = torch.tensor([[0.0, ninf], [0.0, 0.0]])
    >>> lq = torch.tensor([[ninf, 0.0], [0.0, 0.0]])
    >>> js_logits_chunked(lp, lq, reduction="none")  # disjoint supports: log 2
    tensor([0.6931, 0.0000])

    References
    ----------
    J. Lin, "Divergence measures based on the Shannon entropy", *IEEE Trans. Inf. Theory*
    37(1):145-151, 1991.
    """
    _check_inputs(logits_p, logits_q, reduction, chunk_size, validate)
    n, v = logits_p.shape
    cs = default_chunk_size(n, v) if chunk_size is None else int(chunk_size)
    return _JSLogitsChunked.apply(logits_p, logits_q, reduction, cs, _checkable(validate, logits_p, logits_q))[0]


def _checkable(validate, *xs):
    """Run the row checks only when the values are known (not while torch.compile traces)."""
    if not validate:
        return False
    from kllib._xp import _torch_checkable

    return _torch_checkable(torch, xs)
