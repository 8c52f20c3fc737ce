"""Checks for the exercises of the chapters *Estimating KL from samples* and *... from samples alone*.

Example
-------
>>> import numpy as np
>>> from kllib.checks.estimating_kl import k3_exercise
>>> def my_k3(logp, logq):
...     raise NotImplementedError()   # the student's answer goes here
>>> k3_exercise(my_k3)
Traceback (most recent call last):
    ...
kllib.checks._core.CheckError: your k3 is not written yet: replace `raise NotImplementedError()` with your code.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from kllib.checks._core import Checker

__all__ = ["k3_exercise", "kl_knn_exercise"]


def _explain(got, mistakes: dict[str, Callable[[], object]]) -> str:
    g = np.asarray(got.detach().cpu().numpy() if hasattr(got, "detach") else got, dtype=float)
    for message, wrong in mistakes.items():
        with np.errstate(all="ignore"):
            w = np.asarray(wrong(), dtype=float)
        if g.size == w.size and np.allclose(g.reshape(w.shape), w, rtol=1e-6, atol=1e-9):
            return message
    return ""


def k3_exercise(fn: Callable) -> None:
    """Check ``fn(logp, logq)``: Schulman's k3 estimator, one value per sample.

    The inputs are log-densities log p(x) and log q(x) at samples x drawn from q; with
    r = p(x)/q(x) the estimator is k3 = (r − 1) − log r, whose mean estimates KL(q ‖ p).
    The function returns an array of the same shape as its inputs (one estimate per
    sample, not the mean). Compared with :func:`kllib.estimators.k3`.
    """
    from kllib.estimators import k3

    c = Checker("your k3")
    rng = np.random.default_rng(20260606)
    x = rng.normal(size=6)
    logq = -0.5 * x**2 - 0.5 * np.log(2 * np.pi)
    logp = -0.5 * (x - 1.0) ** 2 - 0.5 * np.log(2 * np.pi)
    cases = [
        (np.zeros(4), np.zeros(4), "when p = q at every sample (every estimate should be 0)"),
        (np.array([np.log(2.0)]), np.array([0.0]), "for one sample with p(x)/q(x) = 2 (it should be 1 − log 2 ≈ 0.307)"),
        (np.array([0.0]), np.array([np.log(2.0)]), "for one sample with p(x)/q(x) = 1/2 (it should be log 2 − 1/2 ≈ 0.193)"),
        (logp, logq, "for six samples of q = N(0, 1) with p = N(1, 1)"),
        (rng.normal(scale=3.0, size=(3, 4)), rng.normal(scale=3.0, size=(3, 4)), "for a 3×4 array of log-densities"),
        (np.array([1e-9, -1e-9]), np.zeros(2), "for log-ratios of ±1e-9 (nearly equal densities)"),
    ]
    for lp, lq, context in cases:
        got = c.call(fn, lp.copy(), lq.copy())
        expected = k3(lp, lq)
        lr = lp - lq
        hint = _explain(got, {
            "(the log-ratio is the wrong way round: r = p(x)/q(x), so log r = logp − logq)":
                lambda: np.exp(-lr) - 1 + lr,
            "(that is k1 = −log r = logq − logp, not k3)": lambda: -lr,
            "(that is log r = logp − logq; k1 would be its negative, and k3 is (r − 1) − log r)": lambda: lr,
            "(that is k2 = ½(log r)², not k3)": lambda: 0.5 * lr**2,
            "(you forgot the −1: k3 = (r − 1) − log r, which is 0 when p = q)": lambda: np.exp(lr) - lr,
            "(the log term enters with a minus sign: k3 = (r − 1) − log r)": lambda: np.exp(lr) - 1 + lr,
            "(return one estimate per sample, not their mean: the caller averages)":
                lambda: np.full(1, np.mean(np.exp(lr) - 1 - lr)),
        })
        c.close(got, expected, context, rtol=1e-6, atol=1e-9, hint=hint)
    # Every single-sample k3 value is non-negative.
    lp, lq = rng.normal(scale=2.0, size=200), rng.normal(scale=2.0, size=200)
    got = np.asarray(c.call(fn, lp, lq), dtype=float)
    if got.shape != lp.shape:
        c.fail(f"returns shape {got.shape} for 200 samples; return one estimate per sample (shape {lp.shape}).")
    if (got < -1e-12).any():
        c.fail("returns negative values; k3 = (r − 1) − log r is never negative because log r ≤ r − 1.")
    c.passed += 1
    c.done()


def kl_knn_exercise(fn: Callable) -> None:
    """Check ``fn(x, y)``: the 1-nearest-neighbour estimate of KL(P ‖ Q) in nats from 1-D samples.

    ``x`` holds n samples of P and ``y`` m samples of Q (plain 1-D NumPy arrays, n and m may differ); the
    function returns one float. Compared with :func:`kllib.kl_knn` (``k=1``) on new samples.
    """
    from kllib.knn import kl_knn

    c = Checker("your kl_knn")
    rng = np.random.default_rng(20261130)
    cases = [
        (rng.normal(0, 1, 30), rng.normal(0, 2, 90), "for n = 30 samples of P against m = 90 of Q"),
        (rng.normal(0, 1, 40), rng.normal(1, 1, 40), "for 40 samples of N(0, 1) against 40 of N(1, 1)"),
        (rng.normal(0, 1, 80), rng.normal(0.5, 1, 25), "for n = 80 samples of P against m = 25 of Q"),
        (rng.uniform(0, 1, 50), rng.uniform(0, 2, 60), "for uniform samples on [0, 1] against [0, 2]"),
        (np.array([0.0, 1.0, 3.0]), np.array([0.5, 2.0]), "for x = [0, 1, 3], y = [0.5, 2]"),
    ]
    for x, y, context in cases:
        got = c.call(fn, x.copy(), y.copy())
        try:
            got_f = float(np.asarray(got.detach().cpu().numpy() if hasattr(got, "detach") else got))
        except (TypeError, ValueError):
            c.fail(f"returns {type(got).__name__} {context}; return one number (a float).")
        expected = kl_knn(x, y, k=1)
        n, m = len(x), len(y)
        base = expected - np.log(m / (n - 1))
        hint = ""
        if not np.isfinite(got_f):
            hint = ("(an infinite or nan value usually means a point was counted as its own nearest neighbour, at "
                    "distance 0: exclude i itself when you look for the nearest other x)")
        elif np.isclose(got_f, base, rtol=1e-6, atol=1e-9) and n - 1 != m:
            hint = "(you left out the sample-size correction log(m / (n − 1)))"
        elif np.isclose(got_f, base + np.log(m / n), rtol=1e-6, atol=1e-9) and n - 1 != m:
            hint = "(the correction is log(m / (n − 1)): among the other x's there are n − 1 points, not n)"
        elif np.isclose(got_f, -base + np.log(m / (n - 1)), rtol=1e-6, atol=1e-9):
            hint = "(the distance ratio is upside down: log(ν/ρ), the distance to y over the distance to the other x's)"
        c.close(got_f, expected, context, rtol=1e-6, atol=1e-9, hint=hint)
    c.done()
