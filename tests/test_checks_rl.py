"""The exercise checks of the RL chapters written with kllib.rlhf (TRPO, KL in RL for language models).

Each reference solution passes; each typical wrong implementation fails with the message that names
its mistake.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from kllib import checks
from kllib.checks import CheckError


# --------------------------------------------------------------------------- rl_for_llms
def shaped_ok(scores, logp, logp_ref, beta):
    rewards = -beta * (logp - logp_ref)
    rewards[:, -1] += scores
    return rewards


SHAPED_WRONG = {
    "swapped": (lambda s, lp, lr, b: shaped_ok(s, lr, lp, b), "wrong sign"),
    "added": (lambda s, lp, lr, b: 2 * shaped_ok(s, lp, lr, 0.0) - shaped_ok(s, lp, lr, b), "wrong sign"),
    "every token": (lambda s, lp, lr, b: -b * (lp - lr) + s[:, None], "at every token"),
    "first token": (lambda s, lp, lr, b: torch.cat([-b * (lp - lr)[:, :1] + s[:, None], -b * (lp - lr)[:, 1:]], 1),
                    "not the first"),
    "no beta": (lambda s, lp, lr, b: shaped_ok(s, lp, lr, 1.0), "multiply the log-ratio by beta"),
    "per sequence": (lambda s, lp, lr, b: shaped_ok(s, lp, lr, b).sum(1), "one reward per token"),
    "k3 penalty": (lambda s, lp, lr, b: -b * (torch.expm1(lr - lp) - (lr - lp)) + torch.nn.functional.pad(
        s[:, None], (lp.shape[1] - 1, 0)), "you used k3"),
    "k2 penalty": (lambda s, lp, lr, b: -b * 0.5 * (lr - lp) ** 2 + torch.nn.functional.pad(
        s[:, None], (lp.shape[1] - 1, 0)), "you used k2"),
}


def test_shaped_rewards_reference_passes(capsys):
    checks.shaped_rewards_exercise(shaped_ok)
    assert "all 5 checks passed" in capsys.readouterr().out


@pytest.mark.parametrize("name", list(SHAPED_WRONG))
def test_shaped_rewards_mistakes_are_named(name):
    fn, message = SHAPED_WRONG[name]
    with pytest.raises(CheckError, match=message):
        checks.shaped_rewards_exercise(fn)


def test_shaped_rewards_not_written():
    def stub(*args):
        raise NotImplementedError()

    with pytest.raises(CheckError, match="not written yet"):
        checks.shaped_rewards_exercise(stub)


# --------------------------------------------------------------------------- trpo
def natural_ok(g, F, delta):
    s = np.linalg.solve(F, g)
    return np.sqrt(2 * delta / (s @ F @ s)) * s


NATURAL_WRONG = {
    "plain gradient": (lambda g, F, d: np.sqrt(2 * d / (g @ F @ g)) * g, "plain gradient"),
    "F g": (lambda g, F, d: np.sqrt(2 * d / ((F @ g) @ F @ (F @ g))) * (F @ g), "should be F\\^-1 g"),
    "no 2": (lambda g, F, d: natural_ok(g, F, d / 2), "factor 2"),
    "no sqrt": (lambda g, F, d: 2 * d / (g @ np.linalg.solve(F, g)) * np.linalg.solve(F, g), "square root"),
    "unscaled": (lambda g, F, d: np.linalg.solve(F, g), "only the direction"),
    "downhill": (lambda g, F, d: -natural_ok(g, F, d), "downhill"),
    "scalar": (lambda g, F, d: float(np.linalg.norm(natural_ok(g, F, d))), "shape"),
}


def test_natural_step_reference_passes(capsys):
    checks.natural_step_exercise(natural_ok)
    assert "all 7 checks passed" in capsys.readouterr().out


@pytest.mark.parametrize("name", list(NATURAL_WRONG))
def test_natural_step_mistakes_are_named(name):
    fn, message = NATURAL_WRONG[name]
    with pytest.raises(CheckError, match=message):
        checks.natural_step_exercise(fn)


def test_check_module_doctests():
    import doctest

    import kllib.checks.rl_for_llms
    import kllib.checks.trpo

    for mod in (kllib.checks.rl_for_llms, kllib.checks.trpo):
        result = doctest.testmod(mod)
        assert result.failed == 0 and result.attempted > 0


# --------------------------------------------------------------------------- trpo: conjugate gradient
def cg_ok(Avp, b, n_iters):
    x = torch.zeros_like(b)
    r = b.clone()
    p = r.clone()
    rr = r @ r
    for _ in range(n_iters):
        if rr < 1e-10:
            break
        Ap = Avp(p)
        alpha = rr / (p @ Ap)
        x = x + alpha * p
        r = r - alpha * Ap
        rr_new = r @ r
        p = r + (rr_new / rr) * p
        rr = rr_new
    return x


def cg_no_conjugacy(Avp, b, n_iters):          # steepest descent: the direction forgets the previous one
    x = torch.zeros_like(b)
    r = b.clone()
    for _ in range(n_iters):
        Ar = Avp(r)
        alpha = (r @ r) / (r @ Ar)
        x = x + alpha * r
        r = r - alpha * Ar
    return x


def cg_wasteful(Avp, b, n_iters):               # recomputes the residual from scratch: two products per iteration
    x = torch.zeros_like(b)
    p = b.clone()
    r = b.clone()
    for _ in range(n_iters):
        if r @ r < 1e-10:
            break
        Ap = Avp(p)
        alpha = (r @ r) / (p @ Ap)
        x = x + alpha * p
        r_new = b - Avp(x)
        p = r_new + ((r_new @ r_new) / (r @ r)) * p
        r = r_new
    return x


CG_WRONG = {
    "no conjugacy": (cg_no_conjugacy, "not right"),
    "sign": (lambda Avp, b, n: -cg_ok(Avp, b, n), "check the signs"),
    "two products": (cg_wasteful, "one product"),
    "numpy out": (lambda Avp, b, n: float(cg_ok(Avp, b, n).sum()), "shape"),
}


def test_conjugate_gradient_reference_passes(capsys):
    checks.conjugate_gradient_exercise(cg_ok)
    assert "all 9 checks passed" in capsys.readouterr().out


@pytest.mark.parametrize("name", list(CG_WRONG))
def test_conjugate_gradient_mistakes_are_named(name):
    fn, message = CG_WRONG[name]
    with pytest.raises(CheckError, match=message):
        checks.conjugate_gradient_exercise(fn)
