"""Tests for kllib.rl.trpo: Fisher-vector products, conjugate gradient, line search, training."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from kllib.rl import (
    CategoricalPolicy,
    EvalEvery,
    GaussianPolicy,
    TRPOConfig,
    conjugate_gradient,
    evaluate,
    fisher_vector_product,
    line_search,
    make_fvp,
    trpo,
)


def full_matrix(fvp, n, dtype=torch.float64):
    return torch.stack([fvp(torch.eye(n, dtype=dtype)[i]) for i in range(n)], dim=1)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), k=st.integers(2, 6))
def test_fvp_softmax_logits_is_diag_p_minus_ppT(seed, k):
    g = torch.Generator().manual_seed(seed)
    logits = (2 * torch.randn(k, generator=g, dtype=torch.float64)).requires_grad_()
    kl = CategoricalPolicy.kl(logits.detach(), logits)
    fvp = make_fvp(kl, [logits])
    p = torch.softmax(logits.detach(), -1)
    torch.testing.assert_close(full_matrix(fvp, k), torch.diag(p) - torch.outer(p, p))


def test_fvp_gaussian_mean_and_log_std():
    mean = torch.tensor([0.3, -1.0], dtype=torch.float64, requires_grad=True)
    log_std = torch.tensor([0.5, -0.7], dtype=torch.float64, requires_grad=True)
    params_old = torch.cat([mean, log_std]).detach()
    kl = GaussianPolicy.kl(params_old, torch.cat([mean, log_std]))
    F = full_matrix(make_fvp(kl, [mean, log_std]), 4)
    sigma2 = torch.exp(2 * log_std.detach())
    expected = torch.diag(torch.cat([1 / sigma2, torch.full((2,), 2.0, dtype=torch.float64)]))
    torch.testing.assert_close(F, expected)


def test_fvp_damping_and_network_policy_match_the_hessian():
    torch.manual_seed(0)
    pi = CategoricalPolicy(3, 2, hidden=(4,)).double()
    obs = torch.randn(10, 3, dtype=torch.float64)
    params = list(pi.parameters())
    old = pi(obs).detach()
    flat = torch.cat([p.detach().reshape(-1) for p in params])
    shapes = [p.shape for p in params]

    def kl_of(vec):
        tensors, i = [], 0
        for s in shapes:
            n = int(np.prod(s))
            tensors.append(vec[i:i + n].reshape(s))
            i += n
        w1, b1, w2, b2 = tensors
        logits = torch.tanh(obs @ w1.T + b1) @ w2.T + b2
        return CategoricalPolicy.kl(old, logits).mean()

    H = torch.autograd.functional.hessian(kl_of, flat)
    v = torch.randn(flat.numel(), dtype=torch.float64)
    got = fisher_vector_product(pi.kl(old, pi(obs)).mean(), params, v, damping=0.1)
    torch.testing.assert_close(got, H @ v + 0.1 * v)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_conjugate_gradient_matches_direct_solve(seed):
    g = torch.Generator().manual_seed(seed)
    n = 12
    M = torch.randn(n, n, generator=g, dtype=torch.float64)
    A = M @ M.T + 0.5 * torch.eye(n, dtype=torch.float64)
    b = torch.randn(n, generator=g, dtype=torch.float64)
    x = conjugate_gradient(lambda v: A @ v, b, n_iters=60, residual_tol=1e-20)
    torch.testing.assert_close(x, torch.linalg.solve(A, b), rtol=1e-6, atol=1e-8)


def test_conjugate_gradient_few_iterations_reduce_the_residual():
    A = torch.diag(torch.arange(1.0, 21.0, dtype=torch.float64))
    b = torch.ones(20, dtype=torch.float64)
    res = [float(torch.linalg.norm(A @ conjugate_gradient(lambda v: A @ v, b, n_iters=k) - b)) for k in (1, 5, 10)]
    assert res[0] > res[1] > res[2]


def test_line_search_accepts_within_trust_region_and_rejects_otherwise():
    torch.manual_seed(0)
    pi = CategoricalPolicy(2, 3, hidden=(8,))
    obs = torch.randn(50, 2)
    old = pi(obs).detach()
    act = torch.randint(0, 3, (50,))
    adv = torch.randn(50)
    logp_old = pi.log_prob(old, act)

    def surrogate():
        return (torch.exp(pi.log_prob(pi(obs), act) - logp_old) * adv).mean()

    def kl():
        return pi.kl(old, pi(obs)).mean()

    params = list(pi.parameters())
    grad = torch.cat([g.reshape(-1) for g in torch.autograd.grad(surrogate(), params)])
    before = torch.nn.utils.parameters_to_vector(params).detach().clone()
    res = line_search(pi, 50.0 * grad, surrogate, kl, max_kl=0.01, max_backtracks=30)
    assert res.accepted and res.kl <= 0.01 and res.improvement > 0 and res.backtracks > 0
    with torch.no_grad():
        assert float(kl()) <= 0.01
    # Steps against the gradient never improve the surrogate: no step, parameters restored.
    torch.nn.utils.vector_to_parameters(before, params)
    res = line_search(pi, -grad, surrogate, kl, max_kl=0.01, max_backtracks=5)
    assert not res.accepted and res.fraction == 0.0
    torch.testing.assert_close(torch.nn.utils.parameters_to_vector(params), before)


def test_trpo_respects_the_trust_region_every_update():
    out = trpo(total_steps=4096, n_envs=4, n_steps=128, max_kl=0.005, seed=1)
    h = out.history
    assert len(h["kl_exact"]) == 8
    acc = h["accepted"].astype(bool)
    assert acc.any()
    assert (h["kl_exact"][acc] <= 0.005).all()
    assert (h["kl_exact"][~acc] == 0).all()
    assert (h["improvement"][acc] > 0).all()


def test_trpo_gaussian_and_determinism():
    a = trpo(env_id="Pendulum-v1", total_steps=800, n_envs=2, n_steps=200, seed=2)
    b = trpo(env_id="Pendulum-v1", total_steps=800, n_envs=2, n_steps=200, seed=2)
    np.testing.assert_array_equal(a.history["kl_exact"], b.history["kl_exact"])
    assert (a.history["kl_exact"] <= 0.01).all()



def test_trpo_gsde_respects_the_trust_region():
    out = trpo(env_id="Pendulum-v1", total_steps=800, n_envs=2, n_steps=200, seed=2, use_sde=True, sde_sample_freq=4)
    assert out.policy.log_std.shape == (64, 1)
    acc = out.history["accepted"].astype(bool)
    assert acc.any() and (out.history["kl_exact"][acc] <= 0.01 * 1.0001).all()
    assert (out.history["kl_exact"][~acc] == 0).all()

@pytest.mark.slow
def test_trpo_solves_cartpole():
    cfg = TRPOConfig(total_steps=100_000, seed=0)
    out = trpo(cfg, EvalEvery("CartPole-v1", every=2048, target=475))
    assert np.nanmax(out.history["eval_return"]) >= 475
    assert evaluate(out.policy, "CartPole-v1", n_episodes=10, seed=10_000) >= 475
