"""Checks for the exercises of the chapter *Local geometry: KL, chi-squared and Fisher information*.

The reference is computed at run time as the Hessian of :func:`kllib.kl_logits` (by torch autograd),
so no answer ships with this module.

Example
-------
>>> import numpy as np
>>> from kllib.checks.local_geometry import fisher_softmax_exercise
>>> def fisher_softmax(logits):
...     raise NotImplementedError()
>>> fisher_softmax_exercise(fisher_softmax)
Traceback (most recent call last):
...
kllib.checks._core.CheckError: your fisher_softmax is not written yet: replace `raise NotImplementedError()` with your code.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from kllib.checks._core import Checker

__all__ = ["fisher_softmax_exercise"]


def _hessian_of_kl(z: np.ndarray) -> np.ndarray:
    """The Hessian in ``w`` of ``kllib.kl_logits(z, w)`` at ``w = z``: the Fisher information, by autograd."""
    import torch

    from kllib.discrete import kl_logits

    zt = torch.tensor(np.asarray(z, dtype=np.float64))
    return torch.autograd.functional.hessian(lambda w: kl_logits(zt, w), zt).numpy()


def _softmax(z):
    e = np.exp(z - z.max())
    return e / e.sum()


#: Typical slips, as functions of the logits (each differs from the Hessian above).
_MISTAKES = {
    "(you returned only the diagonal part diag(p): the off-diagonal entries are not zero, because raising one logit "
    "lowers every other probability; each row of the Fisher matrix must sum to 0)": lambda z: np.diag(_softmax(z)),
    "(you returned p pᵀ, which is only one of the two terms, with the wrong sign)": lambda z: np.outer(_softmax(z), _softmax(z)),
    "(the outer-product term has the wrong sign: each row of the Fisher matrix must sum to 0)":
        lambda z: np.diag(_softmax(z)) + np.outer(_softmax(z), _softmax(z)),
    "(you used the logits where the probabilities belong: apply the softmax first)": lambda z: np.diag(z) - np.outer(z, z),
    "(you returned the outer product of the score of one outcome; the Fisher information averages s sᵀ over all outcomes, "
    "weighted by their probabilities)": lambda z: np.outer(np.eye(z.size)[0] - _softmax(z), np.eye(z.size)[0] - _softmax(z)),
}


def fisher_softmax_exercise(fn: Callable) -> None:
    """Check ``fn(logits)`` = the ``(K, K)`` Fisher information of ``softmax(logits)`` with respect to the logits.

    Compared with the Hessian of :func:`kllib.kl_logits` at the given logits, computed by autograd at run time.
    Raises :class:`~kllib.checks.CheckError` naming the first mistake it recognises.
    """
    c = Checker("your fisher_softmax")
    rng = np.random.default_rng(20261130)
    cases = [
        (np.zeros(2), "for two equal logits (a fair coin)"),
        (np.array([0.0, 1.0, 2.0]), "for logits (0, 1, 2)"),
        (np.array([3.0, -1.0, 0.5, 0.0]), "for logits (3, -1, 0.5, 0)"),
        (np.array([1000.0, 0.0, -1000.0]), "for very large logits (subtract the largest logit before exponentiating)"),
    ]
    for k in (3, 5, 8):
        z = rng.normal(scale=1.5, size=k)
        cases.append((z, f"for random logits of length {k}"))
    for z, context in cases:
        got = c.call(fn, z.copy())
        expected = _hessian_of_kl(z)
        g = np.asarray(got.detach().cpu().numpy() if hasattr(got, "detach") else got, dtype=float)
        if g.shape != expected.shape:
            c.fail(f"returns shape {g.shape} {context}; expected a ({z.size}, {z.size}) matrix, one row and column per logit.")
        hint = ""
        if not np.allclose(g, expected, rtol=1e-6, atol=1e-9):
            for message, wrong in _MISTAKES.items():
                with np.errstate(all="ignore"):
                    if np.allclose(g, wrong(z), rtol=1e-6, atol=1e-9):
                        hint = message
                        break
        c.close(g, expected, context, rtol=1e-6, atol=1e-9, hint=hint)
    c.done()
