"""Checks for the exercises of the chapter *DPO: preference optimisation from the KL-regularised optimum*.

The reference is :func:`kllib.dpo.dpo_loss`, called at run time on cases built here. The check
recognises the usual mistakes: the margin the wrong way round (rejected minus chosen), a forgotten
``beta``, the reference log-probabilities left out, a sum instead of a mean over pairs, and a
``log(sigmoid(x))`` that overflows to ``inf`` for a large negative margin.

Example
-------
>>> from kllib.checks.dpo import dpo_loss_exercise
>>> def my_dpo_loss(policy_chosen, policy_rejected, ref_chosen, ref_rejected, beta):
...     raise NotImplementedError()   # the student's answer goes here
>>> dpo_loss_exercise(my_dpo_loss)
Traceback (most recent call last):
    ...
kllib.checks._core.CheckError: your dpo_loss is not written yet: replace `raise NotImplementedError()` with your code.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from kllib.checks._core import Checker
from kllib.checks.definitions import _name_mistake

__all__ = ["dpo_loss_exercise"]


def _reference(pc, pr, rc, rr, beta):
    from kllib.dpo import dpo_loss

    return float(dpo_loss(pc, pr, rc, rr, beta))


def _softplus(x):
    return np.logaddexp(0.0, x)


def _np(*a):
    return [np.asarray(x.detach().numpy() if hasattr(x, "detach") else x, dtype=float) for x in a]


_MISTAKES = {
    "(the margin is the wrong way round: it is (log pi(y_w) - log pi_ref(y_w)) - (log pi(y_l) - log pi_ref(y_l)), "
    "chosen minus rejected, so that the loss falls when the chosen answer becomes more likely)":
        lambda pc, pr, rc, rr, b: float(np.mean(_softplus(b * np.subtract(*_np(pc, rc)) - b * np.subtract(*_np(pr, rr))))),
    "(you forgot beta: the loss is -log sigmoid(beta * margin))":
        lambda pc, pr, rc, rr, b: float(np.mean(_softplus(-(np.subtract(*_np(pc, rc)) - np.subtract(*_np(pr, rr)))))),
    "(the reference log-probabilities are missing: the margin compares log(pi / pi_ref) of the two answers, "
    "not log pi alone)":
        lambda pc, pr, rc, rr, b: float(np.mean(_softplus(-b * np.subtract(*_np(pc, pr))))),
    "(you summed over the pairs; the loss is the mean over the B pairs)":
        lambda pc, pr, rc, rr, b: float(np.sum(_softplus(-b * (np.subtract(*_np(pc, rc)) - np.subtract(*_np(pr, rr)))))),
}


def dpo_loss_exercise(fn: Callable) -> None:
    """Check ``fn(policy_chosen, policy_rejected, ref_chosen, ref_rejected, beta)``: the mean DPO loss.

    The four arguments are float64 tensors of shape ``(B,)`` (sequence log-probabilities of the preferred and
    the rejected answer of each pair, under the policy and the reference); the answer is a scalar, compared
    with :func:`kllib.dpo.dpo_loss`. It must stay finite for margins of several hundred nats.
    """
    import torch

    c = Checker("your dpo_loss")
    gen = torch.Generator().manual_seed(2025)
    cases = []
    for B, beta, scale in [(1, 0.1, 1.0), (4, 0.5, 3.0), (8, 1.0, 10.0), (3, 2.0, 0.5), (5, 0.05, 20.0)]:
        cases.append(tuple(-scale * torch.rand(B, generator=gen, dtype=torch.float64) for _ in range(4)) + (beta,))
    big = torch.tensor([-900.0, 0.0], dtype=torch.float64)
    zero = torch.zeros(2, dtype=torch.float64)
    cases.append((big, zero, zero, zero, 1.0))       # a margin of -900 nats: -log sigmoid(-900) = 900
    for args in cases:
        pc, pr, rc, rr, beta = args
        got = c.call(fn, pc.clone(), pr.clone(), rc.clone(), rr.clone(), beta)
        g = np.asarray(got.detach().numpy() if hasattr(got, "detach") else got, dtype=float)
        expected = _reference(pc, pr, rc, rr, beta)
        if g.size != 1:
            c.fail(f"returns an array of shape {g.shape} for B={len(pc)} pairs; expected one number, the mean loss.")
        if not np.isfinite(g).all():
            c.fail(f"returns {float(g.ravel()[0])} for a margin of {float((pc - rc - pr + rr).min()):.0f} nats; the loss is "
                   "finite (about beta times the margin). -log(sigmoid(x)) overflows: use softplus(-x) or -logsigmoid(x).")
        if not np.allclose(g.ravel()[0], expected, rtol=1e-6, atol=1e-9):
            probe = [args] + cases[1:3]
            hint = _name_mistake(lambda *a: fn(*(x.clone() if hasattr(x, "clone") else x for x in a)), probe, _MISTAKES)
            c.close(g.ravel()[0], expected, f"for B={len(pc)} pairs and beta={beta}", hint=hint)
        c.passed += 1
    c.done()
