"""Tests for kllib.dpo: the DPO and IPO losses and the implicit reward."""
import doctest
import math

import numpy as np
import pytest
import torch

import kllib
from kllib import dpo
from kllib.dpo import dpo_loss, implicit_reward, ipo_loss


def _logs(seed=0, n=6):
    g = torch.Generator().manual_seed(seed)
    return [-3 * torch.rand(n, generator=g, dtype=torch.float64) for _ in range(4)]


def test_doctests():
    result = doctest.testmod(dpo, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted > 0


@pytest.mark.parametrize("beta", [0.01, 0.1, 1.0, 10.0])
def test_dpo_matches_direct_formula(beta):
    pc, pr, rc, rr = _logs()
    h = ((pc - rc) - (pr - rr)).numpy()
    direct = -np.log(1 / (1 + np.exp(-beta * h)))
    np.testing.assert_allclose(dpo_loss(pc, pr, rc, rr, beta, reduction="none").numpy(), direct, rtol=1e-9)
    assert math.isclose(float(dpo_loss(pc, pr, rc, rr, beta)), direct.mean(), rel_tol=1e-9)
    assert math.isclose(float(dpo_loss(pc, pr, rc, rr, beta, reduction="sum")), direct.sum(), rel_tol=1e-9)
    # Bradley-Terry with the implicit rewards
    bt = -torch.nn.functional.logsigmoid(implicit_reward(pc, rc, beta) - implicit_reward(pr, rr, beta))
    np.testing.assert_allclose(dpo_loss(pc, pr, rc, rr, beta, reduction="none").numpy(), bt.numpy(), rtol=1e-12)


def test_ipo_matches_direct_formula():
    pc, pr, rc, rr = _logs(1)
    tau = 0.25
    h = ((pc - rc) - (pr - rr)).numpy()
    np.testing.assert_allclose(ipo_loss(pc, pr, rc, rr, tau, reduction="none").numpy(), (h - 2.0) ** 2, rtol=1e-12)


def test_numpy_in_numpy_out_and_extremes():
    a = np.array([0.0, -1000.0]); b = np.array([-1000.0, 0.0]); z = np.zeros(2)
    out = dpo_loss(a, b, z, z, beta=1.0, reduction="none")
    assert isinstance(out, np.ndarray) and np.isfinite(out).all()
    np.testing.assert_allclose(out, [0.0, 1000.0], atol=1e-12)       # softplus, no log(0)
    assert isinstance(implicit_reward(a, z, 0.5), np.ndarray)


def test_gradcheck_float64():
    args = [x.requires_grad_() for x in _logs(2)]
    assert torch.autograd.gradcheck(lambda *a: dpo_loss(*a, beta=0.7), args)
    assert torch.autograd.gradcheck(lambda *a: ipo_loss(*a, tau=0.7), args)


def test_finite_difference_gradient_in_the_margin():
    beta = 0.5
    for h0 in (-3.0, 0.0, 2.0):
        h = torch.tensor([h0], dtype=torch.float64, requires_grad=True)
        z = torch.zeros(1, dtype=torch.float64)
        (g,) = torch.autograd.grad(dpo_loss(h, z, z, z, beta), h)
        eps = 1e-6
        f = lambda x: float(dpo_loss(torch.tensor([x], dtype=torch.float64), z, z, z, beta))
        assert math.isclose(float(g), (f(h0 + eps) - f(h0 - eps)) / (2 * eps), rel_tol=1e-6)
        assert float(g) < 0          # the DPO gradient never vanishes: it always pushes the margin up


def test_short_training_lowers_loss():
    torch.manual_seed(0)
    logits = torch.nn.Parameter(torch.zeros(5))             # a policy over 5 "answers"
    ref = torch.zeros(5)
    chosen, rejected = torch.tensor([0, 0, 1, 2]), torch.tensor([3, 4, 3, 4])
    opt = torch.optim.Adam([logits], lr=0.1)
    losses = []
    for _ in range(50):
        lp, lr = torch.log_softmax(logits, 0), torch.log_softmax(ref, 0)
        loss = dpo_loss(lp[chosen], lp[rejected], lr[chosen], lr[rejected], beta=0.5)
        opt.zero_grad(); loss.backward(); opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    assert math.isclose(losses[0], math.log(2), rel_tol=1e-6)


def test_ipo_stops_at_its_target_margin():
    h = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    z = torch.zeros(1, dtype=torch.float64)
    opt = torch.optim.SGD([h], lr=0.1)
    for _ in range(200):
        loss = ipo_loss(h, z, z, z, tau=0.5)
        opt.zero_grad(); loss.backward(); opt.step()
    assert abs(float(h) - 1.0) < 1e-6


@pytest.mark.parametrize("beta", [0.0, -1.0, float("inf"), float("nan")])
def test_bad_beta(beta):
    x = torch.zeros(3)
    with pytest.raises(ValueError, match="beta"):
        dpo_loss(x, x, x, x, beta)
    with pytest.raises(ValueError, match="tau"):
        ipo_loss(x, x, x, x, beta)
    with pytest.raises(ValueError, match="beta"):
        implicit_reward(x, x, beta)


def test_bad_shapes_types_reduction():
    x = torch.zeros(3)
    with pytest.raises(ValueError, match="same shape"):
        dpo_loss(x, torch.zeros(4), x, x)
    with pytest.raises(ValueError, match="same shape"):
        implicit_reward(x, torch.zeros(2), 0.1)
    with pytest.raises(TypeError, match="floating-point"):
        dpo_loss(x.long(), x, x, x)
    with pytest.raises(TypeError, match="torch.Tensor"):
        dpo_loss([0.0], x, x, x)
    with pytest.raises(ValueError, match="reduction"):
        dpo_loss(x, x, x, x, reduction="batchmean")


def test_lazy_export():
    assert kllib.dpo_loss is dpo_loss and kllib.ipo_loss is ipo_loss and kllib.implicit_reward is implicit_reward


# ------------------------------------------------------------------ the chapter's self-check
def _dpo_ok(pc, pr, rc, rr, beta):
    return torch.nn.functional.softplus(-beta * ((pc - rc) - (pr - rr))).mean()


def test_check_passes_a_correct_answer(capsys):
    from kllib import checks

    checks.dpo_loss_exercise(_dpo_ok)
    assert "all 6 checks passed" in capsys.readouterr().out


@pytest.mark.parametrize("wrong,needle", [
    (lambda pc, pr, rc, rr, b: _dpo_ok(pr, pc, rr, rc, b), "wrong way round"),
    (lambda pc, pr, rc, rr, b: _dpo_ok(pc, pr, rc, rr, 1.0), "forgot beta"),
    (lambda pc, pr, rc, rr, b: _dpo_ok(pc, pr, 0 * rc, 0 * rr, b), "reference log-probabilities are missing"),
    (lambda pc, pr, rc, rr, b: -torch.log(torch.sigmoid(b * ((pc - rc) - (pr - rr)))).mean(), "softplus"),
    (lambda pc, pr, rc, rr, b: _dpo_ok(pc, pr, rc, rr, b) * len(pc), "summed"),
])
def test_check_names_mistakes(wrong, needle):
    from kllib import checks

    with pytest.raises(checks.CheckError, match=needle):
        checks.dpo_loss_exercise(wrong)
