"""The exercise checks of chapters 1-3 (definitions, information theory, asymmetry) and of mutual information.

Each reference solution passes; each typical wrong implementation fails with the message
that names its mistake.
"""
from __future__ import annotations

import numpy as np
import pytest
from scipy.special import log_softmax

from kllib import checks
from kllib.checks import CheckError


# --------------------------------------------------------------------------- definitions
def kl_bits_ok(p, q):
    p, q = np.asarray(p, float), np.asarray(q, float)
    m = p > 0
    if np.any(q[m] == 0):
        return np.inf
    return float(np.sum(p[m] * np.log2(p[m] / q[m])))


def _naive(p, q, log=np.log2):
    p, q = np.asarray(p, float), np.asarray(q, float)
    with np.errstate(all="ignore"):
        return float(np.sum(p * log(p / q)))


def _masked(p, q, log=np.log2):
    p, q = np.asarray(p, float), np.asarray(q, float)
    m = p > 0
    with np.errstate(all="ignore"):
        return float(np.sum(p[m] * log(p[m] / q[m])))


KL_BITS_WRONG = {
    "nats": (lambda p, q: _masked(p, q, np.log), "nats"),
    "swapped": (lambda p, q: _masked(q, p), "KL(Q || P)"),
    "sign": (lambda p, q: -_masked(p, q), "sign is flipped"),
    "log10": (lambda p, q: _masked(p, q, np.log10), "base-10"),
    "cross-entropy": (lambda p, q: -float(np.sum(np.asarray(p) * np.log2(np.asarray(q)))), "cross-entropy"),
    "nan on zeros": (_naive, "returns nan when p has a zero"),
    "epsilon": (lambda p, q: _masked(p, np.asarray(q, float) + 1e-12), "returns a finite number"),
    "drops q=0": (lambda p, q: _masked(np.where(np.asarray(q) > 0, p, 0.0), q), "returns a finite number"),
}


def test_kl_bits_reference_passes(capsys):
    checks.kl_bits_exercise(kl_bits_ok)
    assert "all 10 checks passed" in capsys.readouterr().out


@pytest.mark.parametrize("name", KL_BITS_WRONG)
def test_kl_bits_typical_mistakes_are_named(name):
    fn, message = KL_BITS_WRONG[name]
    with pytest.raises(CheckError, match=message):
        checks.kl_bits_exercise(fn)


def test_kl_bits_unwritten_says_so():
    def stub(p, q):
        raise NotImplementedError()

    with pytest.raises(CheckError, match="not written yet"):
        checks.kl_bits_exercise(stub)


def test_kl_bits_handed_a_float_says_so():
    # issue 17: the chapter once bound `kl_bits` to a float; a failed answer cell then handed the float to the check
    from kllib.checks import definitions

    for check in (checks.kl_bits_exercise, definitions.kl_bits_exercise):
        with pytest.raises(CheckError, match="(?s)float.*0.35.*def kl_bits"):
            check(0.35)


# ---------------------------------------------------------------------- information theory
def soft_ce_ok(logits, targets):
    return float(np.mean(-np.sum(targets * log_softmax(logits, axis=-1), axis=-1)))


def _naive_softmax(z):
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def _stable_softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


SOFT_CE_WRONG = {
    "sum over batch": (lambda z, t: float(np.sum(-np.sum(t * log_softmax(z, axis=-1), axis=-1))), "sums over the batch"),
    "bits": (lambda z, t: soft_ce_ok(z, t) / np.log(2), "bits"),
    "sign": (lambda z, t: -soft_ce_ok(z, t), "sign is flipped"),
    "KL only": (lambda z, t: soft_ce_ok(z, t) - float(np.mean(-np.sum(np.where(t > 0, t * np.log(np.where(t > 0, t, 1)), 0), axis=-1))),
                "KL\\(targets"),
    "naive softmax overflows": (
        lambda z, t: float(np.mean(-np.sum(t * np.log(_naive_softmax(z)), axis=-1))), "overflows"),
    "log of stable softmax": (
        lambda z, t: float(np.mean(-np.sum(t * np.log(_stable_softmax(z)), axis=-1))), "contributes 0"),
    # found in review: clipping q used to pass every case (it caps the loss of confident mistakes at 27.6 nats)
    "clipped softmax": (
        lambda z, t: float(np.mean(-np.sum(t * np.log(np.clip(_stable_softmax(z), 1e-12, None)), axis=-1))),
        "clipping q"),
    "argmax of the targets": (
        lambda z, t: float(np.mean(-log_softmax(z, axis=-1)[np.arange(len(z)), np.argmax(t, axis=-1)])),
        "only the most likely class"),
}


def test_soft_cross_entropy_reference_passes(capsys):
    checks.soft_cross_entropy_exercise(soft_ce_ok)
    assert "all 8 checks passed" in capsys.readouterr().out


def test_soft_cross_entropy_torch_reference_passes(capsys):
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F

    def torch_ce(logits, targets):
        return F.cross_entropy(torch.as_tensor(logits), torch.as_tensor(targets)).item()

    checks.soft_cross_entropy_exercise(torch_ce)
    assert "passed" in capsys.readouterr().out


@pytest.mark.parametrize("name", SOFT_CE_WRONG)
def test_soft_cross_entropy_typical_mistakes_are_named(name):
    fn, message = SOFT_CE_WRONG[name]
    with np.errstate(all="ignore"), pytest.raises(CheckError, match=message):
        checks.soft_cross_entropy_exercise(fn)


# ---------------------------------------------------------------------- mutual information
def mi_bits_ok(joint):
    j = np.asarray(joint, float)
    prod = j.sum(1, keepdims=True) * j.sum(0, keepdims=True)
    m = j > 0
    return float(np.sum(j[m] * np.log2(j[m] / prod[m])))


def _ent2(p):
    p = np.asarray(p, float).ravel()
    p = p[p > 0]
    return float(-np.sum(p * np.log2(p)))


def _mi_naive(joint):
    j = np.asarray(joint, float)
    with np.errstate(all="ignore"):
        return float(np.sum(j * np.log2(j / np.outer(j.sum(1), j.sum(0)))))


def _mi_reversed(joint):
    j = np.asarray(joint, float)
    prod = np.outer(j.sum(1), j.sum(0))
    with np.errstate(all="ignore"):
        return float(np.sum(prod * np.log2(prod / j)))


MI_WRONG = {
    "nats": (lambda j: mi_bits_ok(j) * np.log(2), "nats"),
    "nan on empty cells": (_mi_naive, "contribute 0"),
    "reversed": (_mi_reversed, "wrong way round|returns inf"),
    "entropies added": (lambda j: _ent2(np.sum(j, 1)) + _ent2(np.sum(j, 0)) + _ent2(j), "wrong signs"),
    "sign": (lambda j: -mi_bits_ok(j), "sign is flipped"),
    "joint entropy": (lambda j: _ent2(j), "joint entropy"),
    "unweighted": (lambda j: float(np.sum(np.log2(np.asarray(j) / np.outer(np.sum(j, 1), np.sum(j, 0))))),
                   "weighted by p\\(x, y\\)|returns nan|returns -inf|not right"),
}


def test_mi_bits_reference_passes(capsys):
    checks.mi_bits_exercise(mi_bits_ok)
    assert "all 7 checks passed" in capsys.readouterr().out


@pytest.mark.parametrize("name", MI_WRONG)
def test_mi_bits_typical_mistakes_are_named(name):
    fn, message = MI_WRONG[name]
    with np.errstate(all="ignore"), pytest.raises(CheckError, match=message):
        checks.mi_bits_exercise(fn)


def test_mi_bits_unwritten_and_not_a_function():
    def stub(joint):
        raise NotImplementedError()

    with pytest.raises(CheckError, match="not written yet"):
        checks.mi_bits_exercise(stub)
    with pytest.raises(CheckError, match="(?s)float.*mi_bits"):
        checks.mi_bits_exercise(0.31)


# ------------------------------------------------------------------------------- asymmetry
def kl_on_grid_ok(logp, logq, dx):
    p = np.exp(logp)
    m = p > 0
    return float(np.sum(p[m] * (logp[m] - logq[m])) * dx)


def _grid_naive(logp, logq, dx):
    with np.errstate(all="ignore"):
        return float(np.sum(np.exp(logp) * (logp - logq)) * dx)


KL_GRID_WRONG = {
    "reverse": (lambda lp, lq, dx: kl_on_grid_ok(lq, lp, dx), "reverse KL"),
    "no dx": (lambda lp, lq, dx: kl_on_grid_ok(lp, lq, dx) / dx, "grid spacing dx"),
    "sign": (lambda lp, lq, dx: -kl_on_grid_ok(lp, lq, dx), "sign is flipped"),
    "bits": (lambda lp, lq, dx: kl_on_grid_ok(lp, lq, dx) / np.log(2), "bits"),
    "nan where p = 0": (_grid_naive, "returns nan"),
}


def test_kl_on_grid_reference_passes(capsys):
    checks.kl_on_grid_exercise(kl_on_grid_ok)
    assert "all 6 checks passed" in capsys.readouterr().out


@pytest.mark.parametrize("name", KL_GRID_WRONG)
def test_kl_on_grid_typical_mistakes_are_named(name):
    fn, message = KL_GRID_WRONG[name]
    with pytest.raises(CheckError, match=message):
        checks.kl_on_grid_exercise(fn)


def forward_fit_ok(weights, means, sigmas):
    w, m, s = (np.asarray(a, float) for a in (weights, means, sigmas))
    mu = np.sum(w * m)
    return mu, np.sqrt(np.sum(w * (s**2 + (m - mu) ** 2)))


def _fit_with(sigma_of):
    def fit(weights, means, sigmas):
        w, m, s = (np.asarray(a, float) for a in (weights, means, sigmas))
        mu = float(np.sum(w * m))
        return mu, sigma_of(w, m, s, mu)

    return fit


MOMENT_WRONG = {
    "within only": (_fit_with(lambda w, m, s, mu: np.sqrt(np.sum(w * s**2))), "PLUS the spread"),
    "average sigma": (_fit_with(lambda w, m, s, mu: np.sum(w * s)), "averaged the standard deviations"),
    "variance": (_fit_with(lambda w, m, s, mu: np.sum(w * (s**2 + (m - mu) ** 2))), "that is the variance"),
    "heaviest mode": (lambda w, m, s: (np.asarray(m)[np.argmax(w)], np.asarray(s)[np.argmax(w)]), "heaviest component"),
    "between only": (_fit_with(lambda w, m, s, mu: np.sqrt(np.sum(w * (m - mu) ** 2))), "only the spread between"),
    "not a pair": (lambda w, m, s: {"mu": 0.0}, "should return a pair"),   # used to crash with a TypeError
}


def test_moment_match_reference_passes(capsys):
    checks.moment_match_exercise(forward_fit_ok)
    assert "all 8 checks passed" in capsys.readouterr().out


@pytest.mark.parametrize("name", MOMENT_WRONG)
def test_moment_match_typical_mistakes_are_named(name):
    fn, message = MOMENT_WRONG[name]
    with pytest.raises(CheckError, match=message):
        checks.moment_match_exercise(fn)


# ------------------------------------------------------------------ every check, found in review
EXERCISES = [checks.kl_bits_exercise, checks.soft_cross_entropy_exercise, checks.kl_on_grid_exercise,
             checks.moment_match_exercise, checks.mi_bits_exercise]


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda f: f.__name__)
def test_a_forgotten_return_is_named(exercise):
    # returning None used to be reported as "returns nan", which sends the student looking for 0·log 0
    def forgot_return(*args):
        _ = args

    with pytest.raises(CheckError, match="forget the `return`"):
        exercise(forgot_return)


@pytest.mark.parametrize("module", ["kllib.checks.definitions", "kllib.checks.information_theory",
                                    "kllib.checks.asymmetry", "kllib.checks.mutual_information"])
def test_docstring_examples_run(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
