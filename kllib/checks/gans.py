"""Checks for the exercises of the chapter *GANs and Jensen–Shannon*.

The check calls the student's function on logits built at run time and compares with
:func:`kllib.gan.js_lower_bound`, computed now (no stored answers). It recognises the usual
mistakes: ``log(sigmoid(l))`` that underflows to ``-inf``, the ``1/2`` or the ``log 4``
forgotten, real and fake swapped, bits instead of nats.

Example
-------
>>> import math
>>> import torch.nn.functional as F
>>> from kllib.checks.gans import js_estimate_exercise
>>> def js_estimate(real_logits, fake_logits):
...     raise NotImplementedError()   # the student's answer goes here
>>> js_estimate_exercise(js_estimate)
Traceback (most recent call last):
    ...
kllib.checks._core.CheckError: your js_estimate is not written yet: replace `raise NotImplementedError()` with your code.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

from kllib.checks._core import Checker

__all__ = ["js_estimate_exercise"]


def _value(r, f):
    return float(-np.logaddexp(0, -r).mean() - np.logaddexp(0, f).mean())


_MISTAKES = {
    "forgets the 1/2: JS ≥ (V + log 4) / 2, since V(D*, G) = -log 4 + 2 JS": lambda r, f: _value(r, f) + math.log(4),
    "forgets the log 4: JS ≥ (V + log 4) / 2, since V(D*, G) = -log 4 + 2 JS": lambda r, f: _value(r, f) / 2,
    "returns the value V itself: the estimate is (V + log 4) / 2": lambda r, f: _value(r, f),
    "uses log 2 instead of log 4: V(D*, G) = -log 4 + 2 JS": lambda r, f: (_value(r, f) + math.log(2)) / 2,
    "swaps real and fake: D should be high (log D) on real samples and low (log(1 - D)) on fake ones":
        lambda r, f: (_value(-r, -f) + math.log(4)) / 2,
    "is in bits: this exercise wants nats (natural log)": lambda r, f: (_value(r, f) + math.log(4)) / 2 / math.log(2),
}


def js_estimate_exercise(fn: Callable) -> None:
    """Check ``fn(real_logits, fake_logits)`` = (V + log 4) / 2 in nats, stable for large logits."""
    import torch

    from kllib.gan import js_lower_bound

    c = Checker(f"your {getattr(fn, '__name__', 'function')}")
    gen = torch.Generator().manual_seed(2024)
    cases = [
        (torch.randn(50, generator=gen) + 1.0, torch.randn(40, generator=gen) - 1.0, "for 50 real and 40 fake logits"),
        (torch.zeros(10), torch.zeros(10), "when D = 1/2 everywhere (the estimate should be 0)"),
        (torch.full((5,), 8.0), torch.full((5,), -8.0), "for a confident, correct discriminator (close to log 2)"),
    ]
    for r, f, context in cases:
        got = c.call(fn, r.clone(), f.clone())
        expected = js_lower_bound(r, f)
        g = float(got.detach() if hasattr(got, "detach") else got)
        if not math.isclose(g, float(expected), rel_tol=1e-4, abs_tol=1e-5):
            rn, fn_ = r.double().numpy(), f.double().numpy()
            for message, wrong in _MISTAKES.items():
                if math.isclose(g, wrong(rn, fn_), rel_tol=1e-4, abs_tol=1e-5):
                    c.fail(f"returns {g:.6g} {context}: it {message}.")
        c.close(got, expected, context, rtol=1e-4, atol=1e-5)

    # Large logits: log(sigmoid(-200)) underflows to log(0) = -inf in floating point.
    r, f = torch.tensor([-200.0, 3.0]), torch.tensor([200.0, -3.0])
    got = c.call(fn, r.clone(), f.clone())
    g = float(got.detach() if hasattr(got, "detach") else got)
    if not math.isfinite(g):
        c.fail(f"returns {g} when a logit is ±200: sigmoid(-200) rounds to 0 and log 0 = -inf. Compute log D as "
               "F.logsigmoid(l) (= -softplus(-l)) and log(1 - D) as F.logsigmoid(-l).")
    c.close(got, js_lower_bound(r, f), "when a logit is ±200 (a confidently wrong discriminator)", rtol=1e-4, atol=1e-4)
    # It must be differentiable, so it can train a discriminator.
    r = torch.tensor([0.5, 1.0], requires_grad=True)
    got = c.call(fn, r, torch.tensor([-0.5]))
    if not isinstance(got, torch.Tensor) or not got.requires_grad:
        c.fail("returns a value gradients cannot flow through: use torch operations (no .item() or NumPy), so the "
               "estimate can train a discriminator.")
    got.backward()
    c.close(r.grad, 0.5 * torch.sigmoid(-r.detach()) / 2, "as the gradient with respect to the real logits",
            hint="d/dl of (mean log sigmoid(l)) / 2 is (1 - sigmoid(l)) / (2 n).")
    c.done()
