"""Checks for the exercises of the chapter *Variational autoencoders*.

The check calls the student's function on cases built at run time and compares with
:func:`kllib.vae.reparameterize`, computed now (no stored answers). It recognises the usual
mistakes: the log-variance (or the variance) used as the standard deviation, the mean
forgotten, the noise ignored, and a sample that gradients cannot flow through.

Example
-------
>>> import torch
>>> from kllib.checks.vae import reparameterize_exercise
>>> def reparameterize(mu, logvar, eps):
...     raise NotImplementedError()   # the student's answer goes here
>>> reparameterize_exercise(reparameterize)
Traceback (most recent call last):
    ...
kllib.checks._core.CheckError: your reparameterize is not written yet: replace `raise NotImplementedError()` with your code.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

from kllib.checks._core import Checker

__all__ = ["reparameterize_exercise"]

_MISTAKES = {
    "uses logvar as the standard deviation: sigma = exp(logvar / 2)": lambda m, lv, e: m + lv * e,
    "uses exp(logvar), the variance, as the standard deviation: sigma = exp(logvar / 2)":
        lambda m, lv, e: m + np.exp(lv) * e,
    "uses sqrt(logvar) as the standard deviation: logvar is a log, so sigma = exp(logvar / 2)":
        lambda m, lv, e: m + np.sqrt(np.abs(lv)) * e,
    "forgets the mean: z = mu + sigma * eps": lambda m, lv, e: np.exp(lv / 2) * e,
    "ignores eps: z = mu + sigma * eps, with the eps passed in (it carries all the randomness)":
        lambda m, lv, e: m + np.exp(lv / 2),
    "returns the mean: z = mu + sigma * eps, with the eps passed in (it carries all the randomness)":
        lambda m, lv, e: m,
    "multiplies by the variance exp(logvar / 2)**2 instead of the standard deviation sigma = exp(logvar / 2)":
        lambda m, lv, e: m + np.exp(lv) * e,
}


def reparameterize_exercise(fn: Callable) -> None:
    """Check ``fn(mu, logvar, eps)`` returns ``mu + exp(logvar / 2) * eps`` as a differentiable tensor."""
    import torch

    from kllib.vae import reparameterize

    c = Checker(f"your {getattr(fn, '__name__', 'function')}")
    cases = [
        ([0.5, -1.0, 2.0], [math.log(4.0), 0.0, -2.0], [1.0, -0.5, 2.0], "for mu = (0.5, -1, 2), logvar = (log 4, 0, -2), eps = (1, -0.5, 2)"),
        ([0.0, 0.0], [1.0, -3.0], [1.0, 1.0], "for mu = 0, logvar = (1, -3), eps = 1"),
        ([3.0], [0.0], [0.0], "for eps = 0 (z must be the mean)"),
    ]
    for mu, lv, eps, context in cases:
        args = [torch.tensor(a, dtype=torch.float64) for a in (mu, lv, eps)]
        got = c.call(fn, *[a.clone() for a in args])
        expected = reparameterize(*args[:2], eps=args[2])
        hint = ""
        g = np.asarray(got.detach().numpy() if hasattr(got, "detach") else got, dtype=float)
        if g.shape == expected.shape and not np.allclose(g, expected.numpy()):
            m, v, e = (np.asarray(a, dtype=float) for a in (mu, lv, eps))
            for message, wrong in _MISTAKES.items():
                if np.allclose(g, wrong(m, v, e)):
                    c.fail(f"returns {np.array2string(g, precision=4)} {context}: it {message}.")
        c.close(got, expected, context, hint=hint)

    # A batch of shape (n, d): elementwise, shape kept.
    gen = torch.Generator().manual_seed(12345)
    mu, lv, eps = (torch.randn(4, 3, generator=gen, dtype=torch.float64) for _ in range(3))
    got = c.call(fn, mu.clone(), lv.clone(), eps.clone())
    if tuple(getattr(got, "shape", ())) != (4, 3):
        c.fail(f"returns shape {tuple(getattr(got, 'shape', ()))} for a batch of shape (4, 3); it should keep the shape "
               "(every operation is elementwise: no sum or mean).")
    c.close(got, reparameterize(mu, lv, eps=eps), "for a batch of shape (4, 3)")

    # Gradients flow to mu and logvar: dz/dmu = 1, dz/dlogvar = sigma * eps / 2.
    mu = torch.tensor([0.3, -0.7], dtype=torch.float64, requires_grad=True)
    lv = torch.tensor([0.4, -1.2], dtype=torch.float64, requires_grad=True)
    eps = torch.tensor([1.5, -0.5], dtype=torch.float64)
    z = c.call(fn, mu, lv, eps)
    if not isinstance(z, torch.Tensor) or not z.requires_grad:
        c.fail("returns a sample that gradients cannot flow through: build z from mu, logvar and eps with torch "
               "operations (no .detach(), .item(), NumPy or torch.normal), so the encoder can learn.")
    z.sum().backward()
    if mu.grad is None or lv.grad is None:
        c.fail("returns a sample whose gradient does not reach mu or logvar: z = mu + torch.exp(0.5 * logvar) * eps.")
    expected_grad = (0.5 * torch.exp(0.5 * lv) * eps).detach()
    c.close(torch.cat([mu.grad, lv.grad]), torch.cat([torch.ones(2, dtype=torch.float64), expected_grad]),
            "as the gradient (d z / d mu, d z / d logvar)",
            hint="d z / d mu should be 1 and d z / d logvar should be sigma * eps / 2.")
    c.done()
