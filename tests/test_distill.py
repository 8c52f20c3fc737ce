"""Tests for kllib.distill: per-token distillation losses against direct references."""
import doctest
import math

import numpy as np
import pytest
import scipy.special
import scipy.stats
import torch

import kllib
from kllib import distill
from kllib.distill import distill_loss


def _ref_np(zs, zt, divergence, beta=0.5, tau=1.0):
    """Direct NumPy/scipy reference, one row at a time."""
    zs, zt = np.asarray(zs, float) / tau, np.asarray(zt, float) / tau
    q, p = scipy.special.softmax(zs, -1), scipy.special.softmax(zt, -1)
    out = []
    for pr, qr in zip(p.reshape(-1, p.shape[-1]), q.reshape(-1, q.shape[-1])):
        if divergence == "forward":
            d = scipy.stats.entropy(pr, qr)
        elif divergence == "reverse":
            d = scipy.stats.entropy(qr, pr)
        else:
            m = beta * pr + (1 - beta) * qr
            d = beta * scipy.stats.entropy(pr, m) + (1 - beta) * scipy.stats.entropy(qr, m)
        out.append(tau**2 * d)
    return np.array(out).reshape(p.shape[:-1])


def test_doctests():
    result = doctest.testmod(distill, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted > 0


@pytest.mark.parametrize("divergence,beta", [("forward", 0.5), ("reverse", 0.5), ("jsd", 0.5), ("jsd", 0.1),
                                             ("jsd", 0.9)])
@pytest.mark.parametrize("tau", [1.0, 2.0])
@pytest.mark.parametrize("chunked", [False, True])
def test_matches_scipy(divergence, beta, tau, chunked):
    g = torch.Generator().manual_seed(0)
    zs, zt = torch.randn(3, 4, 11, generator=g, dtype=torch.float64), 2 * torch.randn(3, 4, 11, generator=g, dtype=torch.float64)
    got = distill_loss(zs, zt, divergence=divergence, beta=beta, temperature=tau, reduction="none",
                       chunked=chunked, chunk_size=5)
    np.testing.assert_allclose(got.numpy(), _ref_np(zs, zt, divergence, beta, tau), rtol=1e-10, atol=1e-12)
    mean = distill_loss(zs, zt, divergence=divergence, beta=beta, temperature=tau, chunked=chunked)
    assert math.isclose(float(mean), float(got.mean()), rel_tol=1e-10)


def test_jsd_limits_and_symmetry():
    g = torch.Generator().manual_seed(1)
    zs, zt = torch.randn(5, 7, generator=g, dtype=torch.float64), torch.randn(5, 7, generator=g, dtype=torch.float64)
    fwd = distill_loss(zs, zt, divergence="forward")
    rev = distill_loss(zs, zt, divergence="reverse")
    assert torch.isclose(distill_loss(zs, zt, divergence="jsd", beta=0.0), fwd)
    assert torch.isclose(distill_loss(zs, zt, divergence="jsd", beta=1.0), rev)
    eps = 1e-6
    assert math.isclose(float(distill_loss(zs, zt, divergence="jsd", beta=eps)) / eps, float(fwd), rel_tol=1e-4)
    assert math.isclose(float(distill_loss(zs, zt, divergence="jsd", beta=1 - eps)) / eps, float(rev), rel_tol=1e-4)
    # beta = 1/2 is the ordinary JS divergence, symmetric, equal to kllib.js
    js = distill_loss(zs, zt, divergence="jsd", beta=0.5)
    assert torch.isclose(js, distill_loss(zt, zs, divergence="jsd", beta=0.5))
    direct = kllib.js(torch.softmax(zs, -1), torch.softmax(zt, -1)).mean()
    assert torch.isclose(js, direct.to(js.dtype))


def test_numpy_in_numpy_out():
    zs, zt = np.zeros((2, 3)), np.log(np.array([[0.2, 0.3, 0.5]] * 2))
    out = distill_loss(zs, zt)
    assert isinstance(out, np.ndarray)
    assert math.isclose(float(out), scipy.stats.entropy([0.2, 0.3, 0.5], [1 / 3] * 3))


def test_mask_ignores_padding_values_and_gradients():
    g = torch.Generator().manual_seed(2)
    zs = torch.randn(2, 5, 6, generator=g, dtype=torch.float64, requires_grad=True)
    zt = torch.randn(2, 5, 6, generator=g, dtype=torch.float64)
    zt_bad = zt.clone()
    zt_bad[1, 3:] = float("nan")            # padding may hold garbage
    mask = torch.ones(2, 5, dtype=torch.bool)
    mask[1, 3:] = False
    for chunked in (False, True):
        loss = distill_loss(zs, zt_bad, mask=mask, chunked=chunked)
        expected = _ref_np(zs.detach(), zt, "forward")[mask.numpy()].mean()
        assert math.isclose(loss.item(), expected, rel_tol=1e-10)
        (grad,) = torch.autograd.grad(loss, zs)
        assert torch.isfinite(grad).all() and (grad[1, 3:] == 0).all()
    none = distill_loss(zs, zt_bad, mask=mask, reduction="none")
    assert (none[1, 3:] == 0).all()
    assert math.isclose(float(distill_loss(zs, zt_bad, mask=mask, reduction="sum")), float(none.sum()))


@pytest.mark.parametrize("divergence,beta", [("forward", 0.5), ("reverse", 0.5), ("jsd", 0.3)])
def test_gradcheck_float64(divergence, beta):
    g = torch.Generator().manual_seed(3)
    zs = torch.randn(3, 5, generator=g, dtype=torch.float64, requires_grad=True)
    zt = torch.randn(3, 5, generator=g, dtype=torch.float64, requires_grad=True)
    f = lambda a, b: distill_loss(a, b, divergence=divergence, beta=beta, temperature=1.5)
    assert torch.autograd.gradcheck(f, (zs, zt))
    fc = lambda a, b: distill_loss(a, b, divergence=divergence, beta=beta, chunked=True, chunk_size=2)
    assert torch.autograd.gradcheck(fc, (zs, zt))


def test_finite_difference_gradient():
    g = torch.Generator().manual_seed(4)
    zs = torch.randn(6, generator=g, dtype=torch.float64, requires_grad=True)
    zt = torch.randn(6, generator=g, dtype=torch.float64)
    loss = distill_loss(zs[None], zt[None], divergence="reverse")
    (grad,) = torch.autograd.grad(loss, zs)
    h = 1e-6
    for i in range(6):
        e = np.zeros(6)
        e[i] = h
        fd = (_ref_np(zs.detach().numpy() + e, zt, "reverse") - _ref_np(zs.detach().numpy() - e, zt, "reverse")) / (2 * h)
        assert math.isclose(float(grad[i]), float(fd), rel_tol=1e-5, abs_tol=1e-8)


def test_infinite_and_zero_conventions():
    ninf = float("-inf")
    zt = torch.tensor([[0.0, 0.0]])
    zs = torch.tensor([[0.0, ninf]])
    assert distill_loss(zs, zt) == float("inf")                               # teacher mass where student has none
    assert math.isclose(float(distill_loss(zs, zt, divergence="reverse")), math.log(2), rel_tol=1e-6)   # 0 log 0 = 0
    assert math.isclose(float(distill_loss(zs, zt, divergence="jsd", beta=0.5)),
                        float(kllib.js([0.5, 0.5], [1.0, 0.0])), rel_tol=1e-6)
    assert distill_loss(zt, zt) == 0


@pytest.mark.parametrize("divergence", ["forward", "reverse", "jsd"])
def test_short_training_lowers_loss(divergence):
    torch.manual_seed(0)
    teacher = torch.randn(8, 10) * 2
    student = torch.nn.Parameter(torch.zeros(8, 10))
    opt = torch.optim.Adam([student], lr=0.1)
    losses = []
    for _ in range(60):
        loss = distill_loss(student, teacher, divergence=divergence, beta=0.3)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.1 * losses[0]


def test_temperature_scaling():
    zs, zt = torch.zeros(1, 3), torch.tensor([[2.0, 0.0, -2.0]])
    assert math.isclose(float(distill_loss(zs, zt, temperature=2.0)), 4 * _ref_np(zs, zt / 2, "forward").item(),
                        rel_tol=1e-6)


@pytest.mark.parametrize("kwargs,match", [
    (dict(divergence="kl"), "divergence must be one of"),
    (dict(reduction="batchmean"), "reduction must be one of"),
    (dict(beta=1.5, divergence="jsd"), "beta"),
    (dict(beta=-0.1, divergence="jsd"), "beta"),
    (dict(temperature=0.0), "temperature"),
    (dict(temperature=float("nan")), "temperature"),
    (dict(mask=torch.ones(3)), "mask must have"),
    (dict(mask=torch.zeros(2, 3)), "keeps no position"),
])
def test_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        distill_loss(torch.zeros(2, 3, 4), torch.zeros(2, 3, 4), **kwargs)


def test_bad_shapes_and_types():
    with pytest.raises(ValueError, match="same shape"):
        distill_loss(torch.zeros(2, 4), torch.zeros(2, 5))
    with pytest.raises(TypeError, match="floating point"):
        distill_loss(torch.zeros(2, 4, dtype=torch.long), torch.zeros(2, 4))
    with pytest.raises(TypeError, match="torch.Tensor"):
        distill_loss([[0.0, 0.0]], torch.zeros(1, 2))


def test_lazy_export():
    assert kllib.distill_loss is distill_loss


# ------------------------------------------------------------------ the chapter's self-check
def _kd_ok(s, t, m):
    ls, lt = torch.log_softmax(s, -1), torch.log_softmax(t, -1)
    kl = (lt.exp() * (lt - ls)).sum(-1)
    return (kl * m).sum() / m.sum()


def test_check_passes_a_correct_answer(capsys):
    from kllib import checks

    checks.forward_kd_exercise(_kd_ok)
    assert "all 4 checks passed" in capsys.readouterr().out


@pytest.mark.parametrize("wrong,needle", [
    (lambda s, t, m: _kd_ok(t, s, m), "wrong way round"),
    (lambda s, t, m: _kd_ok(s, t, torch.ones_like(m)), "mask is ignored"),
    (lambda s, t, m: _kd_ok(s, t, m) * m.sum(), "summed"),
    (lambda s, t, m: _kd_ok(s, t, m) * m.sum() / m.numel(), "counted in the mean"),
])
def test_check_names_mistakes(wrong, needle):
    from kllib import checks

    with pytest.raises(checks.CheckError, match=needle):
        checks.forward_kd_exercise(wrong)
