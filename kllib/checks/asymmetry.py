"""Checks for the exercises of the chapter *Asymmetry: forward and reverse KL*.

Each check calls the student's function on cases built at run time, compares with
:mod:`kllib` (:func:`kllib.kl_normal`, :func:`kllib.fitting.grid_kl`,
:func:`kllib.fitting.mixture_moments`, computed now, no stored answers) and recognises the
usual mistakes: the direction swapped, a missing grid spacing, ``nan`` where the density
is 0, the spread between the modes forgotten in moment matching.

The typical mistakes are described as changes of the reference computed by :mod:`kllib`, so this
module holds no worked solution.

Example
-------
>>> from kllib.checks.asymmetry import kl_on_grid_exercise, moment_match_exercise
>>> def kl_on_grid(logp, logq, dx):
...     raise NotImplementedError()
>>> kl_on_grid_exercise(kl_on_grid)
Traceback (most recent call last):
...
kllib.checks._core.CheckError: your kl_on_grid is not written yet: replace `raise NotImplementedError()` with your code.
>>> def forward_kl_fit(weights, means, sigmas):
...     return 0.0, 1.0
>>> moment_match_exercise(forward_kl_fit)
Traceback (most recent call last):
...
kllib.checks._core.CheckError: your forward_kl_fit returns 0 as the mean for a single Gaussian N(0.5, 2²) (the fit is P itself), which is not right.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from kllib.checks._core import Checker
from kllib.checks.definitions import _as_float, _name_mistake, _returned

__all__ = ["kl_on_grid_exercise", "moment_match_exercise"]


def _riemann(logp, logq, dx):
    """The reference Riemann sum, through :func:`kllib.kl` on the masses p_i·dx and q_i·dx (unvalidated)."""
    from kllib.discrete import kl

    with np.errstate(all="ignore"):
        return float(kl(np.exp(logp) * dx, np.exp(logq) * dx, validate=False))


_GRID_MISTAKES = {
    "(it looks like the reverse KL(Q || P): the first argument, logp, is the distribution the expectation is over, "
    "so weight by p = exp(logp))":
        lambda lp, lq, dx: _riemann(lq, lp, dx),
    "(you forgot to multiply by the grid spacing dx: the integral ∫ p log(p/q) dx is approximated by Σ p_i log(p_i/q_i) · dx)":
        lambda lp, lq, dx: _riemann(lp, lq, dx) / dx,
    "(the sign is flipped: the integrand is p·(log p − log q))":
        lambda lp, lq, dx: -_riemann(lp, lq, dx),
    "(each term must be weighted by the density p = exp(logp), not by logp)":
        lambda lp, lq, dx: float(np.sum(lp * (lp - lq)) * dx),
    "(it looks like bits: this exercise wants nats, the natural log)":
        lambda lp, lq, dx: _riemann(lp, lq, dx) / np.log(2),
}


def kl_on_grid_exercise(fn: Callable) -> None:
    """Check ``fn(logp, logq, dx)`` ≈ KL(P || Q) = ∫ p log(p/q) dx in nats, by a Riemann sum.

    ``logp`` and ``logq`` are NumPy arrays of log-densities on an evenly spaced grid with
    spacing ``dx``. ``logp`` may be ``-inf`` where the density of P is 0 (those points
    contribute 0). Compared with :func:`kllib.kl_normal` (two Gaussians, closed form) and
    :func:`kllib.fitting.grid_kl` (a mixture and a uniform target).
    """
    from scipy.stats import norm

    from kllib import kl_normal
    from kllib.fitting import grid_kl, mixture_logpdf

    c = Checker("your kl_on_grid")
    x = np.linspace(-15.0, 15.0, 3001)
    dx = float(x[1] - x[0])
    probe = (norm.logpdf(x, 0.3, 0.8), norm.logpdf(x, -0.5, 1.7), dx)
    probe2 = (norm.logpdf(x[::2], 1.0, 1.0), norm.logpdf(x[::2], 0.0, 2.0), 2 * dx)

    gauss = [((0.0, 1.0, 0.0, 1.0), "for two identical standard normals (it should be 0)"),
             ((0.0, 1.0, 1.0, 2.0), "for P = N(0, 1), Q = N(1, 2²)"),
             ((1.0, 2.0, 0.0, 1.0), "for P = N(1, 2²), Q = N(0, 1) (the other direction of the previous case)"),
             ((-0.5, 0.6, 0.4, 1.1), "for P = N(-0.5, 0.6²), Q = N(0.4, 1.1²)")]
    for (mp, sp, mq, sq), context in gauss:
        args = (norm.logpdf(x, mp, sp), norm.logpdf(x, mq, sq), dx)
        got = c.call(fn, *args)
        exp = float(kl_normal(np.float64(mp), np.float64(sp), np.float64(mq), np.float64(sq)))
        hint = ""
        if not np.allclose(_returned(c, got, context), exp, rtol=1e-4, atol=1e-6):
            hint = _name_mistake(fn, [args, probe, probe2], _GRID_MISTAKES)
        c.close(got, exp, context, rtol=1e-4, atol=1e-6, hint=hint)

    # A bimodal target against a Gaussian: compare with kllib.fitting.grid_kl.
    w, m, s = [0.3, 0.7], [-2.5, 2.0], [0.6, 0.9]
    logp = mixture_logpdf(x, w, m, s)
    args = (logp, norm.logpdf(x, 0.65, 2.2), dx)
    got = c.call(fn, *args)
    exp = grid_kl(lambda t: mixture_logpdf(t, w, m, s), x, 0.65, 2.2, "forward")
    c.close(got, exp, "for a two-mode mixture P against Q = N(0.65, 2.2²)", rtol=1e-4, atol=1e-6,
            hint=_name_mistake(fn, [args, probe, probe2], _GRID_MISTAKES))

    # A target with zero density outside [-1, 1]: logp = -inf there.
    logu = np.where(np.abs(x) <= 1.0, np.log(0.5), -np.inf)
    got = c.call(fn, logu.copy(), norm.logpdf(x), dx)
    exp = grid_kl(lambda t: np.where(np.abs(t) <= 1.0, 0.0, -np.inf), x, 0.0, 1.0, "forward")
    c.close(got, exp, "for P uniform on [-1, 1] (logp = -inf outside) against Q = N(0, 1)", rtol=2e-2,
            hint="Where p = 0 (logp = -inf) the term is 0; exp(-inf)·(-inf − logq) is nan, so use np.where(p > 0, ..., 0).")
    c.done()


def _mix_mistake(kind):
    def wrong(w, m, s):
        w, m, s = (np.asarray(a, dtype=float) for a in (w, m, s))
        mu = float(np.sum(w * m))
        if kind == "within-only":
            return mu, float(np.sqrt(np.sum(w * s**2)))
        if kind == "avg-sigma":
            return mu, float(np.sum(w * s))
        if kind == "variance":
            return mu, float(np.sum(w * (s**2 + m**2)) - mu**2)
        if kind == "no-w-between":
            return mu, float(np.sqrt(np.sum(w * s**2) + np.sum((m - mu) ** 2)))
        if kind == "unweighted-mean":
            mu0 = float(np.mean(m))
            return mu0, float(np.sqrt(np.sum(w * (s**2 + (m - mu0) ** 2))))
        if kind == "between-only":
            return mu, float(np.sqrt(np.sum(w * (m - mu) ** 2)))
        if kind == "heaviest-mode":
            k = int(np.argmax(w))
            return float(m[k]), float(s[k])
        raise AssertionError(kind)

    return wrong


_MOMENT_MISTAKES = {
    "(sigma is too small: the variance of a mixture is the average variance within the components PLUS the spread "
    "between their means, σ² = Σ w_k s_k² + Σ w_k (m_k − μ)²)": _mix_mistake("within-only"),
    "(you averaged the standard deviations; average the variances and add the spread between the means)":
        _mix_mistake("avg-sigma"),
    "(that is the variance; return the standard deviation, its square root)": _mix_mistake("variance"),
    "(sigma is only the spread between the means: add the average variance within the components, "
    "σ² = Σ w_k s_k² + Σ w_k (m_k − μ)²)": _mix_mistake("between-only"),
    "(the between-means term must be weighted: Σ w_k (m_k − μ)², not Σ (m_k − μ)²)": _mix_mistake("no-w-between"),
    "(the mean must be weighted by the mixture weights: μ = Σ w_k m_k)": _mix_mistake("unweighted-mean"),
    "(that is the heaviest component, the kind of answer reverse KL gives; forward KL covers all the modes: "
    "match the mixture's overall mean and standard deviation)": _mix_mistake("heaviest-mode"),
}


def moment_match_exercise(fn: Callable) -> None:
    """Check ``fn(weights, means, sigmas)`` → ``(mu, sigma)``, the forward-KL Gaussian fit of a mixture.

    ``argmin_{mu, sigma} KL(P || N(mu, sigma²))`` for a 1-D Gaussian mixture ``P`` is moment
    matching: the mixture's mean and standard deviation. Compared with
    :func:`kllib.fitting.mixture_moments`.
    """
    from kllib.fitting import mixture_moments

    c = Checker("your forward_kl_fit")
    rng = np.random.default_rng(20260403)
    cases = [(([1.0], [0.5], [2.0]), "for a single Gaussian N(0.5, 2²) (the fit is P itself)"),
             (([0.5, 0.5], [-3.0, 3.0], [0.7, 0.7]), "for 0.5·N(-3, 0.7²) + 0.5·N(3, 0.7²)"),
             (([0.3, 0.7], [-2.5, 2.0], [0.6, 0.9]), "for 0.3·N(-2.5, 0.6²) + 0.7·N(2, 0.9²)")]
    w = rng.dirichlet(np.ones(3))
    m = rng.normal(scale=3, size=3)
    s = np.exp(rng.normal(scale=0.4, size=3))
    cases.append(((w, m, s), "for a random 3-component mixture"))
    probe = ([0.2, 0.5, 0.3], [-1.0, 0.5, 4.0], [0.5, 1.5, 0.8])
    for args, context in cases:
        got = c.call(fn, *[np.asarray(a, dtype=float) for a in args])
        g = _returned(c, got, context, "a pair (mu, sigma)")
        if g.size != 2:
            c.fail(f"returns {g} {context}; return a pair (mu, sigma)")
        mu, sigma = mixture_moments(*args)
        hint = ""
        if not np.allclose(g.ravel(), [mu, sigma], rtol=1e-6, atol=1e-9):
            hint = _name_mistake(lambda *a: np.ravel(_as_float(fn(*a))),
                                 [tuple(np.asarray(a, float) for a in args), tuple(np.asarray(a, float) for a in probe)],
                                 {k: (lambda f: (lambda *a: np.ravel(np.asarray(f(*a), float))))(v) for k, v in _MOMENT_MISTAKES.items()})
        c.close(g.ravel()[0], mu, f"as the mean {context}", hint=hint)
        c.close(g.ravel()[1], sigma, f"as the standard deviation {context}", hint=hint)
    c.done()
