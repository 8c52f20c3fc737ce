r"""Per-token distillation losses: forward KL, reverse KL and GKD's generalised Jensen-Shannon divergence.

A student language model :math:`q_\theta` is trained to match a teacher :math:`p` position by position,
on the teacher's **full** next-token distributions (word-level knowledge distillation,
:cite:p:`hinton2015`). At each position :math:`t` (with the prefix :math:`y_{<t}` fixed) the per-token loss is
one of

.. math::

    \text{forward:}\quad \mathrm{KL}(p_t \,\|\, q_t) = \sum_v p_t(v)\log\frac{p_t(v)}{q_t(v)}, \qquad
    \text{reverse:}\quad \mathrm{KL}(q_t \,\|\, p_t),

.. math::

    \text{jsd:}\quad \mathrm{JSD}_\beta(p_t \,\|\, q_t) = \beta\,\mathrm{KL}(p_t \,\|\, m_t) + (1-\beta)\,\mathrm{KL}(q_t \,\|\, m_t),
    \qquad m_t = \beta\,p_t + (1-\beta)\,q_t,

the generalised JSD of GKD :cite:p:`agarwal2024gkd` (the convention of its paper and of TRL's
``GKDTrainer``: :math:`p` is the teacher, ``beta`` the teacher's weight in the mixture). Forward KL is
mode-covering, reverse KL (the MiniLLM objective, :cite:p:`gu2024minillm`) mode-seeking; :math:`\beta = 1/2` is
the ordinary Jensen-Shannon divergence. As :math:`\beta \to 0`, :math:`\mathrm{JSD}_\beta / \beta \to`
forward KL, and as :math:`\beta \to 1`, :math:`\mathrm{JSD}_\beta / (1 - \beta) \to` reverse KL; following GKD,
``divergence="jsd"`` with ``beta=0`` or ``beta=1`` returns the forward or reverse KL itself (unscaled).

Which *prefixes* the loss is evaluated on is the caller's choice: sequences from the teacher or a fixed
data set (off-policy, supervised KD) or sequences sampled from the student (on-policy, as in GKD and MiniLLM).

Everything is in nats. torch is imported here (``import kllib`` does not import this module).
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["distill_loss"]

_DIVERGENCES = ("forward", "reverse", "jsd")
_REDUCTIONS = ("mean", "sum", "none")


def _per_row(zs: torch.Tensor, zt: torch.Tensor, divergence: str, beta: float) -> torch.Tensor:
    """Per-row divergence of rows of logits ``[N, V]`` (student ``zs``, teacher ``zt``), unchunked."""
    ls, lt = torch.log_softmax(zs, -1), torch.log_softmax(zt, -1)
    if divergence == "forward" or (divergence == "jsd" and beta == 0.0):
        return _kl_rows(lt, ls)
    if divergence == "reverse" or (divergence == "jsd" and beta == 1.0):
        return _kl_rows(ls, lt)
    lm = torch.logaddexp(lt + math.log(beta), ls + math.log1p(-beta))
    return beta * _kl_rows(lt, lm) + (1.0 - beta) * _kl_rows(ls, lm)


def _kl_rows(la: torch.Tensor, lb: torch.Tensor) -> torch.Tensor:
    """sum_v a (log a - log b), with 0 log 0 = 0 (a term with a = 0 contributes 0 and no gradient)."""
    a = la.exp()
    diff = torch.where(a > 0, la - lb, torch.zeros_like(la))
    return (a * diff).sum(-1)


def _chunked_rows(zs, zt, divergence, beta, chunk_size):
    """The same per-row values, computed without keeping ``[N, V]`` intermediates for the backward pass."""
    from kllib.vocab import js_logits_chunked, kl_logits_chunked

    kw = dict(reduction="none", chunk_size=chunk_size)
    if divergence == "forward" or (divergence == "jsd" and beta == 0.0):
        return kl_logits_chunked(zt, zs, **kw)
    if divergence == "reverse" or (divergence == "jsd" and beta == 1.0):
        return kl_logits_chunked(zs, zt, **kw)
    if beta == 0.5:
        return js_logits_chunked(zt, zs, **kw)
    # Any other beta: recompute each chunk in the backward pass (activation checkpointing).
    from torch.utils.checkpoint import checkpoint

    n, v = zs.shape
    if n == 0:
        return zs.new_zeros(0)
    cs = chunk_size or max(1, (1 << 18) // max(v, 1))
    # split (not slicing in a loop): its backward writes every chunk's gradient into one [N, V] tensor at once.
    parts = [checkpoint(_per_row, a, b, divergence, beta, use_reentrant=False)
             for a, b in zip(zs.split(cs), zt.split(cs))]
    return torch.cat(parts)


def distill_loss(student_logits, teacher_logits, *, divergence: str = "forward", beta: float = 0.5,
                 temperature: float = 1.0, mask=None, reduction: str = "mean", chunked: bool = False,
                 chunk_size: Optional[int] = None):
    r"""Per-token distillation loss between a student's and a teacher's next-token logits.

    With :math:`q_t = \mathrm{softmax}(z^{s}_t/\tau)` (student) and :math:`p_t = \mathrm{softmax}(z^{t}_t/\tau)`
    (teacher) at each position :math:`t`,

    .. math::

        \ell_t = \tau^2\, D(p_t, q_t), \qquad
        D = \mathrm{KL}(p\,\|\,q)\ (\text{forward}),\ \mathrm{KL}(q\,\|\,p)\ (\text{reverse})\ \text{or}\
        \mathrm{JSD}_\beta(p\,\|\,q)\ (\text{jsd, see the module}),

    and ``reduction="mean"`` returns :math:`\sum_t m_t \ell_t / \sum_t m_t` over the positions kept by the
    mask :math:`m` (all of them by default). The factor :math:`\tau^2` is that of :cite:t:`hinton2015`: it keeps the
    gradient's scale roughly independent of the temperature :math:`\tau` (at :math:`\tau = 1` it is 1).

    Conventions: :math:`0 \log 0 = 0`; a ``-inf`` logit is probability zero, so the forward KL is
    ``inf`` where the teacher has mass and the student has none (and the reverse KL the other way round);
    the JSD is always finite (between 0 and :math:`-\beta\log\beta-(1-\beta)\log(1-\beta) \le \log 2`).
    Masked-out positions contribute exactly 0 (even if they hold ``nan`` or ``inf``), and get zero gradient.
    The teacher is *not* detached: pass ``teacher_logits.detach()`` (or compute it under ``torch.no_grad()``) when
    only the student learns.

    Parameters
    ----------
    student_logits, teacher_logits : torch.Tensor or numpy.ndarray
        Same shape ``(..., V)``, e.g. ``(batch, length, vocab)``; the last axis is the vocabulary.
        torch in gives a differentiable torch scalar or tensor; NumPy in gives NumPy (computed in float64).
    divergence : {"forward", "reverse", "jsd"}
        ``"forward"`` :math:`\mathrm{KL}(p\,\|\,q)` (word-level KD), ``"reverse"`` :math:`\mathrm{KL}(q\,\|\,p)`,
        ``"jsd"`` the generalised JSD with interpolation ``beta``.
    beta : float, default 0.5
        For ``"jsd"`` only: the teacher's weight in the mixture, in ``[0, 1]``.
    temperature : float, default 1.0
        :math:`\tau > 0`, applied to both sets of logits.
    mask : array of bool or 0/1, optional
        Shape ``(...)`` (the logits' shape without the vocabulary axis): 1/True for the positions that
        count (real tokens), 0/False for padding.
    reduction : {"mean", "sum", "none"}
        Mean over kept positions, their sum, or the per-position values ``(...)`` (0 at masked positions).
    chunked : bool, default False
        Compute the full-vocabulary divergence chunk by chunk with :func:`kllib.kl_logits_chunked` /
        :func:`kllib.js_logits_chunked` (or activation checkpointing for a ``beta`` other than 0, 1/2, 1), so the
        backward pass keeps no ``(N, V)`` intermediates; the values agree with ``chunked=False`` up to rounding.
    chunk_size : int, optional
        Rows per chunk when ``chunked=True``.

    Returns
    -------
    torch.Tensor or numpy.ndarray
        A scalar, or the per-position values for ``reduction="none"``, in nats.

    Raises
    ------
    ValueError
        Mismatched shapes, a mask of the wrong shape, ``beta`` outside ``[0, 1]``, a non-positive temperature, an
        unknown ``divergence`` or ``reduction``, or a mask that keeps no position with ``reduction="mean"``.
    TypeError
        Inputs that are neither torch tensors nor NumPy arrays, or integer logits.

    Examples
    --------
    A teacher that is sure of token 0, a uniform student over two tokens:

    >>> import torch
    >>> t = torch.log(torch.tensor([[0.9, 0.1]])); s = torch.zeros(1, 2)
    >>> round(float(distill_loss(s, t)), 4)                        # KL(p || q) = 0.9 log 1.8 + 0.1 log 0.2
    0.3681
    >>> round(float(distill_loss(s, t, divergence="reverse")), 4)  # KL(q || p) = 0.5 log(0.5/0.9) + 0.5 log 5
    0.5108
    >>> round(float(distill_loss(s, t, divergence="jsd", beta=0.5)), 4)
    0.1017
    >>> distill_loss(s.expand(3, 2), t.expand(3, 2), mask=torch.tensor([1, 1, 0]), reduction="none")
    tensor([0.3681, 0.3681, 0.0000])

    References
    ----------
    G. Hinton, O. Vinyals and J. Dean, "Distilling the knowledge in a neural network", 2015.
    R. Agarwal et al., "On-policy distillation of language models: learning from self-generated mistakes"
    (GKD), ICLR 2024. Y. Gu et al., "MiniLLM: knowledge distillation of large language models", ICLR 2024.
    """
    numpy_in = isinstance(student_logits, np.ndarray) and isinstance(teacher_logits, np.ndarray)
    if numpy_in:
        student_logits = torch.as_tensor(np.asarray(student_logits, dtype=np.float64))
        teacher_logits = torch.as_tensor(np.asarray(teacher_logits, dtype=np.float64))
        if mask is not None:
            mask = torch.as_tensor(np.asarray(mask))
    for name, z in (("student_logits", student_logits), ("teacher_logits", teacher_logits)):
        if not isinstance(z, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor (or both must be NumPy arrays); got {type(z).__name__}.")
        if not z.is_floating_point():
            raise TypeError(f"{name} must be floating point (logits); got {z.dtype}. Convert with .float().")
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(f"student_logits {tuple(student_logits.shape)} and teacher_logits {tuple(teacher_logits.shape)} "
                         "must have the same shape (..., V): the same positions and the same vocabulary.")
    if student_logits.dim() < 1 or student_logits.shape[-1] < 1:
        raise ValueError("the logits need a non-empty last axis holding the vocabulary.")
    if divergence not in _DIVERGENCES:
        raise ValueError(f"divergence must be one of {_DIVERGENCES}; got {divergence!r}.")
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}; got {reduction!r}.")
    beta = float(beta)
    if not 0.0 <= beta <= 1.0:
        raise ValueError(f"beta is the teacher's weight in the mixture and must be in [0, 1]; got {beta}.")
    temperature = float(temperature)
    if not (temperature > 0 and math.isfinite(temperature)):
        raise ValueError(f"temperature must be a finite number > 0; got {temperature}.")
    lead = student_logits.shape[:-1]
    if mask is not None:
        mask = torch.as_tensor(mask, device=student_logits.device)
        if tuple(mask.shape) != tuple(lead):
            raise ValueError(f"mask must have the logits' shape without the vocabulary axis, {tuple(lead)}; "
                             f"got {tuple(mask.shape)}.")
        keep = mask.bool()
    else:
        keep = None

    V = student_logits.shape[-1]
    dtype = torch.promote_types(student_logits.dtype, teacher_logits.dtype)
    zs = student_logits.to(dtype).reshape(-1, V) / temperature
    zt = teacher_logits.to(dtype).reshape(-1, V) / temperature
    if keep is not None:
        k = keep.reshape(-1)
        # Compute only the kept rows, so that nan/inf in padding cannot leak into values or gradients.
        rows = (_chunked_rows(zs[k], zt[k], divergence, beta, chunk_size) if chunked
                else _per_row(zs[k], zt[k], divergence, beta))
        per = zs.new_zeros(zs.shape[0], dtype=rows.dtype).masked_scatter(k, rows)
    else:
        per = (_chunked_rows(zs, zt, divergence, beta, chunk_size) if chunked
               else _per_row(zs, zt, divergence, beta))
    per = per * temperature**2
    per = per.reshape(lead)
    if reduction == "none":
        out = per
    elif reduction == "sum":
        out = per.sum()
    else:
        n_kept = int(keep.sum()) if keep is not None else per.numel()
        if n_kept == 0:
            raise ValueError("the mask keeps no position, so the mean is undefined; use reduction='sum' "
                             "or keep at least one position.")
        out = per.sum() / n_kept
    return out.detach().numpy() if numpy_in else out
