"""Checks for the exercises of the chapter *Distilling a language model: which KL, whose samples*.

The reference is :func:`kllib.distill.distill_loss` (forward KL, masked mean), called at run time on cases
built here. The check recognises the usual mistakes: the KL the wrong way round (the student's
distribution first), padding positions counted in the mean, the KL summed over positions instead of
averaged, and softmax probabilities where log-probabilities belong.

Example
-------
>>> from kllib.checks.distillation import forward_kd_exercise
>>> def my_forward_kd(student_logits, teacher_logits, mask):
...     raise NotImplementedError()   # the student's answer goes here
>>> forward_kd_exercise(my_forward_kd)
Traceback (most recent call last):
    ...
kllib.checks._core.CheckError: your forward_kd is not written yet: replace `raise NotImplementedError()` with your code.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from kllib.checks._core import Checker
from kllib.checks.definitions import _name_mistake

__all__ = ["forward_kd_exercise"]


def _reference(s, t, m):
    from kllib.distill import distill_loss

    return float(distill_loss(s, t, mask=m))


def _logsm(x):
    x = np.asarray(x.detach().numpy() if hasattr(x, "detach") else x, dtype=float)
    return x - np.logaddexp.reduce(x, axis=-1, keepdims=True)


def _kl(la, lb):
    return (np.exp(la) * (la - lb)).sum(-1)


def _m(m):
    return np.asarray(m.numpy() if hasattr(m, "numpy") else m, dtype=float)


_MISTAKES = {
    "(the KL is the wrong way round: word-level distillation is KL(teacher || student) = "
    "sum_v p_teacher(v) (log p_teacher(v) - log q_student(v)), the teacher's probabilities as weights)":
        lambda s, t, m: float((_kl(_logsm(s), _logsm(t)) * _m(m)).sum() / _m(m).sum()),
    "(the padding positions (mask 0) are counted in the mean: divide by the number of kept positions)":
        lambda s, t, m: float((_kl(_logsm(t), _logsm(s)) * _m(m)).sum() / _m(m).size),
    "(the mask is ignored: padding positions must contribute nothing)":
        lambda s, t, m: float(_kl(_logsm(t), _logsm(s)).mean()),
    "(you summed over the kept positions; the loss is their mean)":
        lambda s, t, m: float((_kl(_logsm(t), _logsm(s)) * _m(m)).sum()),
}


def forward_kd_exercise(fn: Callable) -> None:
    """Check ``fn(student_logits, teacher_logits, mask)``: the masked mean of the per-token forward KL.

    ``student_logits`` and ``teacher_logits`` are float64 tensors of shape ``(B, T, V)``, ``mask`` a ``(B, T)``
    bool tensor (False = padding); the answer is one number, the mean over kept positions of
    KL(teacher || student), compared with :func:`kllib.distill.distill_loss`.
    """
    import torch

    c = Checker("your forward_kd")
    gen = torch.Generator().manual_seed(2026)
    cases = []
    for B, T, V, scale in [(1, 1, 3, 1.0), (2, 4, 5, 2.0), (3, 6, 9, 3.0), (2, 3, 50, 5.0)]:
        s = scale * torch.randn(B, T, V, generator=gen, dtype=torch.float64)
        t = scale * torch.randn(B, T, V, generator=gen, dtype=torch.float64)
        m = torch.ones(B, T, dtype=torch.bool)
        if T > 1:
            m[-1, T // 2:] = False          # the last sequence is padded
        cases.append((s, t, m))
    for s, t, m in cases:
        got = c.call(fn, s.clone(), t.clone(), m.clone())
        g = np.asarray(got.detach().numpy() if hasattr(got, "detach") else got, dtype=float)
        expected = _reference(s, t, m)
        if g.size != 1:
            c.fail(f"returns shape {g.shape} for logits of shape {tuple(s.shape)}; expected one number, the mean "
                   "over the kept positions.")
        if not np.allclose(g.ravel()[0], expected, rtol=1e-6, atol=1e-9):
            probe = [(s, t, m)] + [cs for cs in cases if not cs[2].all()]
            hint = _name_mistake(lambda *a: fn(*(x.clone() for x in a)), probe, _MISTAKES)
            c.close(g.ravel()[0], expected, f"for logits of shape {tuple(s.shape)} with {int(m.sum())} kept positions",
                    hint=hint)
        c.passed += 1
    c.done()
