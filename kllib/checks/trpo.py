"""Checks for the exercises of the chapter *Trust region policy optimisation*.

``natural_step_exercise``: the reference step is computed at run time with :func:`numpy.linalg.solve`; the check also
verifies the defining property (the quadratic model of the KL equals ``delta``) and names the
usual mistakes: the plain gradient direction, :math:`F g` instead of :math:`F^{-1} g`, a missing
factor 2 or square root, an unscaled :math:`F^{-1} g`. ``conjugate_gradient_exercise``: compared with
:func:`kllib.rl.trpo.conjugate_gradient` and an exact solve, on explicit matrices and on damped
Fisher-vector products (:func:`kllib.rl.trpo.make_fvp`).

Example
-------
>>> import numpy as np
>>> from kllib.checks.trpo import natural_step_exercise
>>> def natural_step(g, F, delta):
...     raise NotImplementedError()   # the student's answer goes here
>>> natural_step_exercise(natural_step)
Traceback (most recent call last):
    ...
kllib.checks._core.CheckError: your natural_step is not written yet: replace `raise NotImplementedError()` with your code.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from kllib.checks._core import Checker
from kllib.checks.definitions import _name_mistake

__all__ = ["natural_step_exercise", "conjugate_gradient_exercise"]


def _reference(g, F, delta):
    s = np.linalg.solve(F, g)
    return np.sqrt(2 * delta / (g @ s)) * s


_MISTAKES = {
    "(the direction is the plain gradient g; TRPO's direction is the natural gradient F^-1 g, "
    "solve F s = g with np.linalg.solve)":
        lambda g, F, d: np.sqrt(2 * d / (g @ F @ g)) * g,
    "(the direction is F g; it should be F^-1 g: solve F s = g rather than multiply)":
        lambda g, F, d: np.sqrt(2 * d / ((F @ g) @ F @ (F @ g))) * (F @ g),
    "(the scale is missing its factor 2: the KL is (1/2) s^T F s, so the step is sqrt(2 delta / s^T F s) s)":
        lambda g, F, d: np.sqrt(d / (g @ np.linalg.solve(F, g))) * np.linalg.solve(F, g),
    "(the scale is missing its square root: a step t s has KL (1/2) t^2 s^T F s, so t = sqrt(2 delta / s^T F s))":
        lambda g, F, d: 2 * d / (g @ np.linalg.solve(F, g)) * np.linalg.solve(F, g),
    "(the step goes downhill: TRPO maximises the surrogate, so the step is +F^-1 g, scaled)":
        lambda g, F, d: -_reference(g, F, d),
    "(F^-1 g is only the direction: scale it so that the quadratic KL (1/2) step^T F step equals delta)":
        lambda g, F, d: np.linalg.solve(F, g),
}


def _spd(rng, n, cond):
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    eig = np.geomspace(1.0, 1.0 / cond, n)
    return (q * eig) @ q.T


def natural_step_exercise(fn: Callable) -> None:
    """Check ``fn(g, F, delta)``: the TRPO step :math:`\\sqrt{2\\delta / g^\\top F^{-1} g}\\; F^{-1} g`.

    ``g`` is a 1-D gradient of length ``n``, ``F`` an ``(n, n)`` symmetric positive-definite Fisher
    matrix, ``delta`` the KL radius; the answer is a 1-D array of length ``n`` whose quadratic KL
    :math:`\\tfrac12 \\Delta^\\top F \\Delta` equals ``delta``.
    """
    c = Checker("your natural_step")
    rng = np.random.default_rng(1234)
    cases = [(np.array([1.0, 0.0]), np.diag([4.0, 1.0]), 0.01)]
    for n, cond, delta in [(2, 10.0, 0.02), (3, 100.0, 0.01), (5, 1e3, 0.05), (6, 50.0, 0.001)]:
        cases.append((rng.standard_normal(n), _spd(rng, n, cond), delta))
    probes = cases[1:3]
    for g, F, delta in cases:
        got = c.call(fn, g.copy(), F.copy(), delta)
        got = np.asarray(got.detach().numpy() if hasattr(got, "detach") else got, dtype=float)
        expected = _reference(g, F, delta)
        if got.shape != expected.shape:
            c.fail(f"returns shape {got.shape} for a gradient of length {len(g)}; expected {expected.shape}: "
                   "one number per parameter.")
        if not np.allclose(got, expected, rtol=1e-6, atol=1e-12):
            hint = _name_mistake(fn, [(g, F, delta)] + probes, _MISTAKES)
            c.close(got, expected, f"for g = {np.round(g, 3)}, delta = {delta}", hint=hint)
        c.passed += 1
    # The defining property, on the last case: the quadratic model of the KL equals delta.
    g, F, delta = cases[-1]
    step = np.asarray(fn(g.copy(), F.copy(), delta), dtype=float)
    c.close(0.5 * step @ F @ step, delta, "for (1/2) step^T F step, which must equal delta")
    # The step must go uphill: g . step > 0.
    if not g @ step > 0:
        c.fail("goes downhill (g . step <= 0): TRPO maximises the surrogate, so the step follows +F^-1 g.")
    c.passed += 1
    c.done()


def conjugate_gradient_exercise(fn: Callable) -> None:
    """Check ``fn(Avp, b, n_iters)``: conjugate gradient for :math:`Ax = b` from :math:`x = 0`, given ``Avp(v) = A v``.

    ``b`` is a 1-D float64 torch tensor and ``Avp`` maps such a tensor to :math:`Av` for a symmetric
    positive-definite :math:`A`; the answer is a tensor of the same shape after at most ``n_iters``
    iterations (stopping once the squared residual is below 1e-10). Compared with
    :func:`kllib.rl.trpo.conjugate_gradient` (the same number of iterations) and, after enough
    iterations, with ``torch.linalg.solve``; the last cases use damped Fisher-vector products of a
    small softmax policy, built with :func:`kllib.rl.trpo.make_fvp`.
    """
    import torch

    from kllib.rl.common import CategoricalPolicy
    from kllib.rl.trpo import conjugate_gradient, make_fvp

    c = Checker("your conjugate gradient")
    rng = np.random.default_rng(20261130)
    counted = {"calls": 0}

    def explicit(A):
        def Avp(v):
            counted["calls"] += 1
            return A @ v
        return Avp

    hints = ("(check the signs: the residual is r = b - A x, updated as r <- r - alpha A p, and the step is "
             "x <- x + alpha p with alpha = r.r / p.A p; the new direction is p <- r + (r_new.r_new / r.r) p)")
    # 1. A diagonal system: CG is exact after as many iterations as there are distinct eigenvalues.
    A = torch.diag(torch.tensor([4.0, 1.0, 2.0], dtype=torch.float64))
    b = torch.tensor([1.0, 1.0, 1.0], dtype=torch.float64)
    got = c.call(fn, explicit(A), b.clone(), 3)
    if not hasattr(got, "shape") or tuple(got.shape) != (3,):
        c.fail(f"returns {type(got).__name__} of shape {tuple(getattr(got, 'shape', ()))} for b of shape (3,); "
               "return x, a tensor shaped like b.")
    c.close(got, torch.linalg.solve(A, b), "for A = diag(4, 1, 2), b = (1, 1, 1) after 3 iterations", hint=hints)
    # 2. Random SPD systems: iteration by iteration like the reference, exact after n iterations.
    for n, cond, iters in [(5, 10.0, 2), (5, 10.0, 5), (8, 1e3, 4), (8, 1e3, 30)]:
        q, _ = np.linalg.qr(rng.standard_normal((n, n)))
        A = torch.tensor((q * np.geomspace(1.0, 1.0 / cond, n)) @ q.T)
        b = torch.tensor(rng.standard_normal(n))
        got = c.call(fn, explicit(A), b.clone(), iters)
        c.close(got, conjugate_gradient(lambda v: A @ v, b, iters),
                f"after {iters} iterations on a {n}x{n} system (condition number {cond:g})", rtol=1e-6, atol=1e-9,
                hint=hints)
        if iters >= n:
            c.close(got, torch.linalg.solve(A, b), f"against the exact solution of a {n}x{n} system", rtol=1e-5,
                    atol=1e-8)
    # 3. Only products are allowed, and at most one per iteration.
    counted["calls"] = 0
    q, _ = np.linalg.qr(rng.standard_normal((6, 6)))
    A = torch.tensor((q * np.geomspace(1.0, 0.1, 6)) @ q.T)
    c.call(fn, explicit(A), torch.tensor(rng.standard_normal(6)), 4)
    if counted["calls"] > 5:
        c.fail(f"called Avp {counted['calls']} times in 4 iterations: one product A p per iteration is enough "
               "(in TRPO each one costs a double backward pass).")
    c.passed += 1
    # 4. The case TRPO meets: damped Fisher-vector products of a softmax policy on a batch of states.
    torch.manual_seed(0)
    policy = CategoricalPolicy(4, 3, hidden=(8,)).double()
    states = torch.tensor(rng.standard_normal((64, 4)))
    params = list(policy.parameters())
    with torch.no_grad():
        old = policy(states)
    fvp = make_fvp(policy.kl(old, policy(states)).mean(), params, damping=0.1)
    g = torch.tensor(rng.standard_normal(sum(p.numel() for p in params)))
    got = c.call(fn, fvp, g.clone(), 10)
    c.close(got, conjugate_gradient(fvp, g, 10), "after 10 iterations on damped Fisher-vector products (damping 0.1)",
            rtol=1e-5, atol=1e-8, hint=hints)
    c.done()


conjugate_gradient_exercise.__kllib_allowed__ = ("kllib.rl.trpo.make_fvp", "kllib.checks.trpo.conjugate_gradient_exercise")
