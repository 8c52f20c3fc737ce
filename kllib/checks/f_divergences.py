"""Checks for the exercises of the chapter *The f-divergence family*.

The reference values come from :func:`kllib.js` at run time, and the typical mistakes are
described through :mod:`kllib` too, so this module holds no worked solution.

Example
-------
>>> from kllib.checks.f_divergences import js_exercise
>>> def my_js(p, q):
...     raise NotImplementedError()
>>> js_exercise(my_js)
Traceback (most recent call last):
...
kllib.checks._core.CheckError: your js is not written yet: replace `raise NotImplementedError()` with your code.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from kllib.checks._core import Checker

__all__ = ["js_exercise"]


def _xlogy(x, y):
    """x·log(x/y) with 0·log(0/y) = 0 (NumPy, elementwise)."""
    with np.errstate(all="ignore"):
        return np.where(x > 0, x * np.log(np.where(x > 0, x, 1.0) / y), 0.0)


def _kl(p, q):
    """Σ p log(p/q), also for the un-normalised second arguments of the typical mistakes."""
    with np.errstate(all="ignore"):
        return float(np.sum(_xlogy(p, q)))


def _explain(got, mistakes: dict[str, Callable[[], object]]) -> str:
    g = float(np.asarray(got.detach().cpu().numpy() if hasattr(got, "detach") else got, dtype=float).reshape(-1)[0])
    for message, wrong in mistakes.items():
        with np.errstate(all="ignore"):
            w = float(wrong())
        if np.isclose(g, w, rtol=1e-6, atol=1e-9) or (np.isinf(g) and g == w):
            return message
    return ""


def js_exercise(fn: Callable) -> None:
    """Check ``fn(p, q)`` = the Jensen-Shannon divergence in nats of two 1-D probability vectors.

    JS(P, Q) = ½ KL(P ‖ M) + ½ KL(Q ‖ M) with M = (P + Q)/2 and 0·log 0 = 0, so the answer
    is finite (at most log 2) even when the supports are disjoint. Compared with
    :func:`kllib.divergences.js`.
    """
    from kllib.divergences import js

    c = Checker("your js")
    rng = np.random.default_rng(20260505)
    cases = [
        (np.array([0.5, 0.5]), np.array([0.5, 0.5]), "for two identical distributions (it should be 0)"),
        (np.array([0.9, 0.1]), np.array([0.2, 0.8]), "for P = (0.9, 0.1), Q = (0.2, 0.8)"),
        (np.array([0.5, 0.5, 0.0]), np.array([0.1, 0.3, 0.6]), "when P has a zero (by convention 0·log 0 = 0)"),
        (np.array([0.2, 0.0, 0.8]), np.array([0.0, 0.7, 0.3]), "when P and Q each have a zero where the other does not"),
        (np.array([1.0, 0.0]), np.array([0.0, 1.0]), "for disjoint supports (it should be log 2 ≈ 0.693 nats)"),
    ]
    for k in (3, 5, 8, 12):
        cases.append((rng.dirichlet(np.ones(k)), rng.dirichlet(np.ones(k)), f"for random distributions on {k} outcomes"))
    for p, q, context in cases:
        got = c.call(fn, p.copy(), q.copy())
        expected = js(p, q)
        m = (p + q) / 2
        hint = _explain(got, {
            "(you are missing the factor 1/2: JS = ½ KL(P ‖ M) + ½ KL(Q ‖ M))": lambda: 2 * float(expected),
            "(that is the answer in bits; the exercise asks for nats, use the natural log)":
                lambda: float(expected) / np.log(2),
            "(that is the JS distance, the square root; return the divergence itself)":
                lambda: np.sqrt(float(expected)),
            "(that is the symmetrised KL ½(KL(P‖Q) + KL(Q‖P)), not JS: compare each distribution with the mixture M)":
                lambda: (_kl(p, q) + _kl(q, p)) / 2,
            "(the mixture goes second: KL(P ‖ M) and KL(Q ‖ M), not KL(M ‖ P) and KL(M ‖ Q))":
                lambda: (_kl(m, p) + _kl(m, q)) / 2,
            "(the mixture is M = (P + Q)/2; you forgot to divide by 2)":
                lambda: (_kl(p, p + q) + _kl(q, p + q)) / 2,
        })
        c.close(got, expected, context, rtol=1e-6, atol=1e-9,
                hint=hint or ("(where P is 0 the term 0·log(0/M) is 0: mask it out or use scipy.special.xlogy)"
                              if (p == 0).any() or (q == 0).any() else ""))
    c.done()
