"""Checks for the exercises of the chapter *Information theory*.

The check calls the student's function on cases built at run time, compares with
:func:`kllib.cross_entropy` (computed now, no stored answers) and recognises the usual
mistakes: the arguments swapped, the batch summed instead of averaged, bits instead of
nats, a missing minus sign, and ``nan``/``inf`` from ``exp`` overflowing on large logits.

Example
-------
An unwritten answer gets a message that says what to do (the reference solution lives in the
chapter's answer cell, not in this module):

>>> from kllib.checks.information_theory import soft_cross_entropy_exercise
>>> def soft_cross_entropy(logits, targets):
...     raise NotImplementedError()
>>> soft_cross_entropy_exercise(soft_cross_entropy)
Traceback (most recent call last):
...
kllib.checks._core.CheckError: your soft_cross_entropy is not written yet: replace `raise NotImplementedError()` with your code.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from kllib.checks._core import Checker
from kllib.checks.definitions import _as_float, _name_mistake, _require_function, _returned

__all__ = ["soft_cross_entropy_exercise"]


def _log_softmax(z):
    z = np.asarray(z, dtype=float)
    m = z.max(axis=-1, keepdims=True)
    return z - m - np.log(np.sum(np.exp(z - m), axis=-1, keepdims=True))


def _ce_rows(logits, targets):
    t = np.asarray(targets, dtype=float)
    with np.errstate(all="ignore"):
        return -np.sum(np.where(t > 0, t * _log_softmax(logits), 0.0), axis=-1)


_SOFT_CE_MISTAKES = {
    "(it sums over the batch: the loss is the mean over the rows, like F.cross_entropy's default reduction)":
        lambda z, t: np.sum(_ce_rows(z, t)),
    "(it looks like bits: the loss of a classifier is in nats, use the natural log)":
        lambda z, t: np.mean(_ce_rows(z, t)) / np.log(2),
    "(the sign is flipped: cross-entropy is −Σ t·log softmax(z), a positive number)":
        lambda z, t: -np.mean(_ce_rows(z, t)),
    "(it looks like the arguments are swapped: the expectation is over the targets, −Σ t·log q, not −Σ q·log t)":
        lambda z, t: np.mean(-np.sum(np.exp(_log_softmax(z)) * np.log(np.clip(t, 1e-300, None)), axis=-1)),
    "(it looks like KL(targets || softmax) rather than the cross-entropy: the loss also contains the entropy "
    "of the targets, H(t, q) = KL(t || q) + H(t))":
        lambda z, t: np.mean(_ce_rows(z, t) - _ce_rows(np.log(np.clip(t, 1e-300, None)), t)),
    "(it looks like softmax was taken over the wrong axis: each row (axis=-1) is one example's logits)":
        lambda z, t: np.mean(-np.sum(t * (z - np.log(np.sum(np.exp(z - z.max()), axis=0, keepdims=True)) - z.max()), axis=-1)),
    "(it looks like only the most likely class of each target counts: with soft targets every class j contributes "
    "−t_j·log q_j, not just the argmax)":
        lambda z, t: np.mean(-np.take_along_axis(_log_softmax(z), np.argmax(t, axis=-1)[:, None], axis=-1)),
}


def soft_cross_entropy_exercise(fn: Callable) -> None:
    """Check ``fn(logits, targets)``: the mean cross-entropy loss with soft labels, in nats.

    ``logits`` and ``targets`` are NumPy arrays of shape ``(n, k)``; each row of ``targets``
    is a probability vector (one-hot or smoothed). The answer is the float
    ``mean_i  -Σ_j targets[i, j] · log softmax(logits[i])_j``. It must stay finite for logits
    in the thousands (use log-softmax, not ``log(exp(z) / sum(exp(z)))``). Compared with
    :func:`kllib.cross_entropy` applied row by row.
    """
    from scipy.special import softmax

    from kllib import cross_entropy

    c = Checker("your soft_cross_entropy")
    _require_function(c, fn, "soft_cross_entropy", "soft_cross_entropy(logits, targets)")
    rng = np.random.default_rng(20260402)

    def expect(z, t):
        return float(np.mean(cross_entropy(t, softmax(z, axis=-1))))

    z1 = rng.normal(size=(4, 3))
    t_onehot = np.eye(3)[[0, 2, 1, 1]]
    t_smooth = 0.9 * t_onehot + 0.1 / 3
    t_soft = rng.dirichlet(np.ones(3), size=4)
    z2 = rng.normal(size=(5, 4)) * 2
    t2 = rng.dirichlet(np.ones(4), size=5)
    probes = [(z2, t2), (z1[:2], t_smooth[:2])]
    cases = [
        ((np.zeros((2, 3)), np.full((2, 3), 1 / 3)), "for all-zero logits and uniform targets (it should be log 3 = 1.0986)"),
        ((z1, t_onehot), "for one-hot targets (4 examples, 3 classes)"),
        ((z1, t_smooth), "for label-smoothed targets (0.9 one-hot + 0.1 uniform)"),
        ((z1, t_soft), "for soft targets"),
        ((z2, t2), "for 5 examples and 4 classes"),
    ]
    for (z, t), context in cases:
        got = c.call(fn, z.copy(), t.copy())
        exp = expect(z, t)
        hint = ""
        if not np.allclose(_returned(c, got, context), exp, rtol=1e-6, atol=1e-9):
            hint = _name_mistake(fn, [(z, t), *probes], _SOFT_CE_MISTAKES)
        c.close(got, exp, context, hint=hint)

    # Large logits: exp overflows unless the max is subtracted (log-softmax).
    big = np.array([[1000.0, 998.0, 990.0], [-1000.0, -1003.0, -999.0]])
    got = c.call(fn, big.copy(), t_smooth[:2].copy())
    exp = expect(big, t_smooth[:2])
    if not np.isfinite(_as_float(got)).all():
        c.fail(f"returns {_as_float(got)} for logits around ±1000 (the answer is {exp:.4f}): exp(1000) overflows. "
               "Use log-softmax: log softmax(z) = z − max(z) − log Σ exp(z − max(z)) "
               "(scipy.special.log_softmax or torch.log_softmax).")
    c.close(got, exp, "for logits around ±1000", hint="Use a numerically stable log-softmax.")

    # A confidently wrong prediction: the loss is large and must not be capped by clipping q.
    zw = np.array([[0.0, 50.0, 0.0], [3.0, 0.0, 60.0]])
    tw = np.array([[1.0, 0.0, 0.0], [0.9, 0.05, 0.05]])
    got = c.call(fn, zw.copy(), tw.copy())
    c.close(got, expect(zw, tw), "for confidently wrong predictions (logit 50 or 60 on a class the target says is "
            f"unlikely; it should be {expect(zw, tw):.4f})",
            hint="The probability of the target class is about e^-50 here; clipping q (np.clip(q, 1e-12, 1)) "
                 "caps the loss at about 27.6 nats. Use log-softmax instead of log(softmax).")

    # Targets with zeros must not produce nan (0·log q = 0 even if q underflows to 0).
    z3 = np.array([[0.0, -800.0, 5.0]])
    t3 = np.array([[0.5, 0.0, 0.5]])
    got = c.call(fn, z3.copy(), t3.copy())
    c.close(got, expect(z3, t3), "when a target is 0 on a class whose probability underflows to 0",
            hint="A class with target 0 contributes 0; compute t·log_softmax(z) (finite), not t·log(softmax(z)) (log 0 = −inf, 0·−inf = nan).")
    c.done()
