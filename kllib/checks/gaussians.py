"""Checks for the exercises of the chapter *Gaussians*.

Each check calls the student's function on cases drawn at run time, compares with
:func:`kllib.gaussian.kl_normal` / :func:`kllib.gaussian.kl_mvn`, and, when the answer
is wrong, recognises the usual mistakes (variance where the standard deviation belongs,
the arguments in the wrong order, a missing log-determinant, ...) and says which one.

The reference values come from :mod:`kllib` at run time, and each typical mistake is described as
a change of that reference, so this module holds no worked solution.

Example
-------
>>> from kllib.checks.gaussians import kl_normal_exercise
>>> def my_kl_normal(mu_p, sigma_p, mu_q, sigma_q):
...     raise NotImplementedError()
>>> kl_normal_exercise(my_kl_normal)
Traceback (most recent call last):
...
kllib.checks._core.CheckError: your kl_normal is not written yet: replace `raise NotImplementedError()` with your code.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from kllib.checks._core import Checker

__all__ = ["kl_normal_exercise", "kl_mvn_exercise"]


def _as_float_array(x) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=float)


def _diagnose(c: Checker, fn: Callable, cases: list[tuple], mistakes: dict[str, Callable]) -> str:
    """Name the typical mistake that reproduces the student's answers.

    ``cases`` are argument tuples, the failing case first, then probe cases that tell the
    mistakes apart; a mistake is named only if it reproduces the student's answer on all of them.
    """
    outs = []
    for args in cases:
        try:
            outs.append(_as_float_array(fn(*args)))
        except Exception:  # noqa: BLE001 - a probe that crashes names no mistake
            return ""
    for message, wrong in mistakes.items():
        ok = True
        for args, g in zip(cases, outs):
            with np.errstate(all="ignore"):
                w = _as_float_array(wrong(*args))
            if g.size != w.size or not np.allclose(g.reshape(w.shape), w, rtol=1e-6, atol=1e-9):
                ok = False
                break
        if ok:
            return message
    return ""


def _kl_normal_np(mu_p, s_p, mu_q, s_q):
    """The reference, :func:`kllib.gaussian.kl_normal`, on NumPy floats."""
    from kllib.gaussian import kl_normal

    return kl_normal(*(np.float64(a) for a in (mu_p, s_p, mu_q, s_q)))


def _quad(mp, sp, mq, sq):
    """The term (σ_p² + (μ_p − μ_q)²)/(2σ_q²) of the reference, to describe mistakes as changes of it."""
    return (sp**2 + (mp - mq) ** 2) / (2 * sq**2)


#: Typical mistakes in the univariate formula, as functions of (mu_p, sigma_p, mu_q, sigma_q).
_KL_NORMAL_MISTAKES = {
    "(it looks like KL(Q || P): the first pair of arguments is P, the distribution the expectation is over; "
    "σ_q belongs in the denominator)": lambda mp, sp, mq, sq: _kl_normal_np(mq, sq, mp, sp),
    "(you used σ where σ² belongs: the formula is log(σ_q/σ_p) + (σ_p² + (μ_p − μ_q)²)/(2σ_q²) − 1/2)":
        lambda mp, sp, mq, sq: _kl_normal_np(mp, sp, mq, sq) - _quad(mp, sp, mq, sq) + (sp + (mp - mq) ** 2) / (2 * sq),
    "(your function treats its arguments as variances; here sigma is the standard deviation, so square it)":
        lambda mp, sp, mq, sq: _kl_normal_np(mp, np.sqrt(sp), mq, np.sqrt(sq)),
    "(the log term should be log(σ_q/σ_p) = ½·log(σ_q²/σ_p²); you have log(σ_q²/σ_p²), twice too big)":
        lambda mp, sp, mq, sq: _kl_normal_np(mp, sp, mq, sq) + np.log(sq / sp),
    "(the log term has the wrong sign: it is log(σ_q/σ_p), not log(σ_p/σ_q))":
        lambda mp, sp, mq, sq: _kl_normal_np(mp, sp, mq, sq) - 2 * np.log(sq / sp),
    "(you forgot the constant −1/2: two identical Gaussians must give 0)":
        lambda mp, sp, mq, sq: _kl_normal_np(mp, sp, mq, sq) + 0.5,
    "(you forgot the log(σ_q/σ_p) term)":
        lambda mp, sp, mq, sq: _kl_normal_np(mp, sp, mq, sq) - np.log(sq / sp),
    "(the quadratic term is missing the factor 1/2: (σ_p² + (μ_p − μ_q)²)/(2σ_q²))":
        lambda mp, sp, mq, sq: _kl_normal_np(mp, sp, mq, sq) + _quad(mp, sp, mq, sq),
}


def kl_normal_exercise(fn: Callable) -> None:
    """Check ``fn(mu_p, sigma_p, mu_q, sigma_q)`` = KL(N(mu_p, sigma_p²) || N(mu_q, sigma_q²)) in nats.

    ``sigma`` is the standard deviation. The function must broadcast over NumPy arrays.
    Compared with :func:`kllib.gaussian.kl_normal`; raises :class:`~kllib.checks.CheckError`
    naming the first mistake it recognises.
    """
    from kllib.gaussian import kl_normal

    c = Checker("your kl_normal")
    rng = np.random.default_rng(20260404)
    cases = [
        ((0.0, 1.0, 0.0, 1.0), "for two identical standard normals (it should be 0)"),
        ((1.0, 1.0, 0.0, 1.0), "for N(1, 1) against N(0, 1) (equal variances: it should be (μ_p − μ_q)²/2 = 0.5)"),
        ((0.0, 2.0, 0.0, 1.0), "for N(0, 2²) against N(0, 1)"),
        ((0.0, 1.0, 0.0, 2.0), "for N(0, 1) against N(0, 2²)"),
        ((0.3, 0.5, -1.2, 3.0), "for N(0.3, 0.5²) against N(-1.2, 3²)"),
    ]
    for _ in range(3):
        mu_p, mu_q = rng.normal(size=2)
        s_p, s_q = np.exp(rng.normal(scale=0.7, size=2))
        cases.append(((mu_p, s_p, mu_q, s_q), f"for N({mu_p:.3g}, {s_p:.3g}²) against N({mu_q:.3g}, {s_q:.3g}²)"))
    probes = [(0.7, 1.7, -0.4, 0.6), (-1.1, 0.35, 0.25, 2.2)]
    for args, context in cases:
        args = tuple(float(a) for a in args)
        got = c.call(fn, *args)
        expected = kl_normal(*(np.float64(a) for a in args))
        if not np.allclose(_as_float_array(got), _as_float_array(expected), rtol=1e-6, atol=1e-9):
            hint = _diagnose(c, fn, [args, *probes], _KL_NORMAL_MISTAKES)
        else:
            hint = ""
        c.close(got, expected, context, rtol=1e-6, hint=hint)
    # Broadcasting over arrays.
    mu = np.linspace(-2.0, 2.0, 5)
    got = c.call(fn, mu, np.full(5, 1.5), np.zeros(5), np.ones(5))
    c.close(got, kl_normal(mu, np.full(5, 1.5), np.zeros(5), np.ones(5)),
            "for an array of five means (use np.log and array arithmetic, not math.log)")
    c.done()


def _random_spd(rng: np.random.Generator, k: int) -> np.ndarray:
    a = rng.normal(size=(k, k))
    return a @ a.T + 0.5 * np.eye(k)


def _mvn_terms(mu_p, cov_p, mu_q, cov_q):
    iq, ip = np.linalg.inv(cov_q), np.linalg.inv(cov_p)
    d = mu_q - mu_p
    ld = np.linalg.slogdet(cov_q)[1] - np.linalg.slogdet(cov_p)[1]
    return mu_p.shape[-1], iq, ip, d, ld


def _kl_mvn_np(mu_p, cov_p, mu_q, cov_q):
    """The reference, :func:`kllib.gaussian.kl_mvn`."""
    from kllib.gaussian import kl_mvn

    return float(kl_mvn(mu_p, cov_p, mu_q, cov_q))


def _mvn_mistake(kind):
    """A typical mistake, described as a change of the reference value."""
    def wrong(mu_p, cov_p, mu_q, cov_q):
        k, iq, ip, d, ld = _mvn_terms(mu_p, cov_p, mu_q, cov_q)
        tr, quad = np.trace(iq @ cov_p), d @ iq @ d
        right = _kl_mvn_np(mu_p, cov_p, mu_q, cov_q)
        if kind == "no-logdet":
            return right - 0.5 * ld
        if kind == "logdet-sign":
            return right - ld
        if kind == "no-k":
            return right + 0.5 * k
        if kind == "no-half":
            return 2 * right
        if kind == "trace-inverted":
            return right + 0.5 * (np.trace(ip @ cov_q) - tr)
        if kind == "quad-p":
            return right + 0.5 * (d @ ip @ d - quad)
        if kind == "quad-no-inverse":
            return right + 0.5 * (d @ cov_q @ d - quad)
        if kind == "det-not-log":
            return right + 0.5 * (np.linalg.det(cov_q) / np.linalg.det(cov_p) - ld)
        raise AssertionError(kind)

    return wrong


#: Typical mistakes in the full-covariance formula, as functions of (mu_p, cov_p, mu_q, cov_q).
_KL_MVN_MISTAKES = {
    "(it looks like KL(Q || P): swap the roles, the trace and the quadratic form use Σ_q⁻¹)":
        lambda mp, cp, mq, cq: _kl_mvn_np(mq, cq, mp, cp),
    "(the log-determinant term log(det Σ_q / det Σ_p) is missing)": _mvn_mistake("no-logdet"),
    "(the log-determinant term has the wrong sign: it is log det Σ_q − log det Σ_p)": _mvn_mistake("logdet-sign"),
    "(you forgot the −k: two identical Gaussians must give 0)": _mvn_mistake("no-k"),
    "(the whole bracket is multiplied by 1/2; you are missing that factor)": _mvn_mistake("no-half"),
    "(the trace term is tr(Σ_q⁻¹ Σ_p); you have tr(Σ_p⁻¹ Σ_q))": _mvn_mistake("trace-inverted"),
    "(the quadratic form uses Σ_q⁻¹, the inverse covariance of the second argument; you used Σ_p⁻¹)":
        _mvn_mistake("quad-p"),
    "(the quadratic form is (μ_q − μ_p)ᵀ Σ_q⁻¹ (μ_q − μ_p), with the inverse; you used Σ_q itself)":
        _mvn_mistake("quad-no-inverse"),
    "(the last term is log det Σ_q − log det Σ_p; you used the ratio of determinants without the log)":
        _mvn_mistake("det-not-log"),
}


def kl_mvn_exercise(fn: Callable) -> None:
    """Check ``fn(mu_p, cov_p, mu_q, cov_q)`` = KL(N(mu_p, cov_p) || N(mu_q, cov_q)) in nats.

    Inputs are one mean vector of shape ``(k,)`` and one covariance matrix of shape
    ``(k, k)`` per distribution; the answer is a scalar. Compared with
    :func:`kllib.gaussian.kl_mvn`.
    """
    from kllib.gaussian import kl_mvn

    c = Checker("your kl_mvn")
    rng = np.random.default_rng(20260405)
    cases = [
        ((np.zeros(2), np.eye(2), np.zeros(2), np.eye(2)), "for two identical 2-D standard normals (it should be 0)"),
        ((np.array([1.0, -1.0]), np.eye(2), np.zeros(2), np.eye(2)), "for unit covariances and means 1.41 apart"),
        ((np.zeros(2), np.diag([4.0, 0.25]), np.zeros(2), np.eye(2)), "for a diagonal covariance diag(4, 0.25) against the identity"),
        ((np.array([0.5]), np.array([[2.0]]), np.array([-0.5]), np.array([[0.8]])), "for a 1-D case (k = 1)"),
    ]
    for k in (2, 3, 4):
        cases.append(((rng.normal(size=k), _random_spd(rng, k), rng.normal(size=k), _random_spd(rng, k)),
                      f"for random {k}-D Gaussians with full covariances"))
    probe_rng = np.random.default_rng(7)
    probes = [tuple(a for a in (probe_rng.normal(size=k), _random_spd(probe_rng, k),
                                probe_rng.normal(size=k), _random_spd(probe_rng, k))) for k in (3, 2)]
    for args, context in cases:
        got = c.call(fn, *(a.copy() for a in args))
        expected = kl_mvn(*args)
        if not np.allclose(_as_float_array(got).reshape(-1)[:1], _as_float_array(expected).reshape(-1)[:1],
                           rtol=1e-6, atol=1e-9):
            hint = _diagnose(c, fn, [tuple(a.copy() for a in args), *probes], _KL_MVN_MISTAKES)
        else:
            hint = ""
        c.close(got, expected, context, rtol=1e-6, atol=1e-9, hint=hint)
    c.done()
