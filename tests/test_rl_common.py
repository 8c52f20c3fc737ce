"""Tests for kllib.rl.common: policies, GAE, rollouts, KL estimates, evaluation."""
import gymnasium as gym
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from kllib.rl import (CategoricalPolicy, GaussianPolicy, SDEGaussianPolicy, evaluate, gae, kl_estimates, make_policy,
                      make_vec_env)
from kllib.rl.common import Runner


def naive_gae(rewards, values, terminated, truncated, final_values, last_value, gamma, lam):
    """Advantages as explicit sums of discounted TD errors, one environment and one step at a time."""
    T, N = rewards.shape
    adv = np.zeros((T, N))
    for i in range(N):
        v_next = np.append(values[1:, i], last_value[i])
        v_next = np.where(truncated[:, i] > 0, final_values[:, i], v_next)
        delta = rewards[:, i] + gamma * (1 - terminated[:, i]) * v_next - values[:, i]
        for t in range(T):
            total, weight = 0.0, 1.0
            for k in range(t, T):
                total += weight * delta[k]
                if terminated[k, i] or truncated[k, i]:
                    break
                weight *= gamma * lam
            adv[t, i] = total
    return adv


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), gamma=st.floats(0.0, 1.0), lam=st.floats(0.0, 1.0))
def test_gae_matches_naive_sums(seed, gamma, lam):
    rng = np.random.default_rng(seed)
    T, N = 7, 3
    r = rng.normal(size=(T, N))
    v = rng.normal(size=(T, N))
    end = rng.random((T, N))
    term = (end < 0.2).astype(float)
    trunc = ((end >= 0.2) & (end < 0.35)).astype(float)
    final = rng.normal(size=(T, N)) * trunc
    last = rng.normal(size=N)
    adv, ret = gae(r, v, term, trunc, final, last, gamma, lam)
    np.testing.assert_allclose(adv, naive_gae(r, v, term, trunc, final, last, gamma, lam), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(ret, adv + v)


def test_gae_special_cases_and_types():
    r = torch.tensor([[1.0], [1.0], [1.0]])
    v = torch.zeros(3, 1)
    d = torch.tensor([[0.0], [1.0], [0.0]])
    z = torch.zeros(3, 1)
    adv, ret = gae(r, v, d, z, z, torch.tensor([5.0]), gamma=0.5, lam=1.0)
    assert isinstance(adv, torch.Tensor) and adv.dtype == torch.float32
    # episode terminates after step 1: no bootstrap across it; the last step bootstraps 0.5 * 5.
    assert adv[:, 0].tolist() == [1.5, 1.0, 3.5]
    # lam = 0: one-step TD errors.
    adv0, _ = gae(r, v, d, z, z, torch.tensor([5.0]), gamma=0.5, lam=0.0)
    assert adv0[:, 0].tolist() == [1.0, 1.0, 3.5]
    # truncated after step 1 with V(final obs) = 2: that value is bootstrapped, the sum still stops there.
    adv_t, _ = gae(r, v, z, d, 2 * d, torch.tensor([5.0]), gamma=0.5, lam=1.0)
    assert adv_t[:, 0].tolist() == [2.0, 2.0, 3.5]
    # a step that is both terminated and truncated counts as terminated.
    adv_b, _ = gae(r, v, d, d, 2 * d, torch.tensor([5.0]), gamma=0.5, lam=1.0)
    assert adv_b[:, 0].tolist() == [1.5, 1.0, 3.5]


def test_gae_rejects_bad_shapes():
    r = np.zeros((3, 2))
    with pytest.raises(ValueError, match="shape"):
        gae(r, np.zeros((3, 1)), r, r, r, np.zeros(2))
    with pytest.raises(ValueError, match="last_value"):
        gae(r, r, r, r, r, np.zeros(3))


def test_categorical_policy_matches_torch_distributions():
    torch.manual_seed(0)
    pi = CategoricalPolicy(4, 3)
    obs = torch.randn(6, 4)
    p, q = torch.randn(6, 3), torch.randn(6, 3)
    a = torch.tensor([0, 1, 2, 0, 1, 2])
    ref = torch.distributions.Categorical(logits=p)
    torch.testing.assert_close(pi.log_prob(p, a), ref.log_prob(a))
    torch.testing.assert_close(pi.entropy(p), ref.entropy())
    torch.testing.assert_close(pi.kl(p, q), torch.distributions.kl_divergence(ref, torch.distributions.Categorical(logits=q)))
    torch.testing.assert_close(pi.dist(obs).logits, torch.log_softmax(pi(obs), -1))


def test_gaussian_policy_matches_torch_distributions():
    torch.manual_seed(0)
    pi = GaussianPolicy(3, 2, log_std_init=-0.5)
    params = pi(torch.randn(5, 3))
    other = torch.randn(5, 4)
    a = torch.randn(5, 2)

    def ref(x):
        return torch.distributions.Independent(torch.distributions.Normal(x[:, :2], x[:, 2:].exp()), 1)

    torch.testing.assert_close(pi.log_prob(params, a), ref(params).log_prob(a))
    torch.testing.assert_close(pi.entropy(params), ref(params).entropy())
    torch.testing.assert_close(pi.kl(params, other), torch.distributions.kl_divergence(ref(params), ref(other)))
    assert torch.all(params[:, 2:] == -0.5)


def test_sde_policy_action_given_state_is_the_gaussian_of_its_params():
    """gSDE: with the noise matrix drawn afresh, a_k | s ~ N(mu_k(s), sum_j phi_j(s)^2 sigma_jk^2), the params' Gaussian."""
    torch.manual_seed(0)
    pi = SDEGaussianPolicy(3, 2, log_std_init=-1.0)
    with torch.no_grad():
        pi.log_std.add_(0.3 * torch.randn_like(pi.log_std))
    obs = torch.randn(2, 3)
    n = 200_000
    noise = pi.sample_noise(n, torch.Generator().manual_seed(1))
    with torch.no_grad():
        params, act = pi.explore(obs.repeat(n // 2, 1), noise)
    mean, log_std = params[:2, :2], params[:2, 2:]
    a = act.reshape(n // 2, 2, 2)
    torch.testing.assert_close(a.mean(0), mean, atol=4 * float(log_std.exp().max()) / (n // 2) ** 0.5, rtol=0)
    torch.testing.assert_close(a.std(0).log(), log_std, atol=0.01, rtol=0)
    torch.testing.assert_close(params, pi(obs.repeat(n // 2, 1)))


def test_sde_policy_gradients_and_conventions():
    torch.manual_seed(0)
    pi = SDEGaussianPolicy(3, 1, hidden=(8, 5), log_std_init=-0.5)
    assert pi.log_std.shape == (5, 1)
    params = pi(torch.randn(4, 3))
    # log sigma(s) depends on log_std, not (through phi) on the feature weights: phi is detached in the variance
    grads = torch.autograd.grad(params[:, 1].sum(), [pi.log_std, pi.net[0].weight], allow_unused=True,
                                retain_graph=True)
    assert grads[0] is not None and grads[0].abs().sum() > 0
    assert grads[1] is None or float(grads[1].abs().sum()) == 0.0
    # the mean learns the features, as in GaussianPolicy
    assert float(torch.autograd.grad(params[:, 0].sum(), pi.net[0].weight)[0].abs().sum()) > 0
    # log_prob / kl / entropy / mode are GaussianPolicy's, on the state-dependent params
    other = pi(torch.randn(4, 3))
    torch.testing.assert_close(pi.kl(params, params), torch.zeros(4), atol=1e-6, rtol=0)
    assert torch.all(pi.kl(params, other) >= 0)
    torch.testing.assert_close(pi.mode(params), params[:, :1])
    # the 1e-6 added to the variance: zero features give log sigma = 0.5 log 1e-6
    torch.testing.assert_close(pi._params(torch.zeros(1, 5))[:, 1], torch.full((1,), 0.5 * np.log(1e-6)))


def test_sde_policy_matches_stable_baselines3():
    """log_prob and entropy agree with SB3's StateDependentNoiseDistribution (full_std, no expln, features detached)."""
    sb3 = pytest.importorskip("stable_baselines3.common.distributions")
    torch.manual_seed(0)
    pi = SDEGaussianPolicy(3, 2, hidden=(8, 5), log_std_init=-0.5)
    with torch.no_grad():
        pi.log_std.add_(0.3 * torch.randn_like(pi.log_std))
    obs, act = torch.randn(4, 3), torch.randn(4, 2)
    phi = pi.net[:-1](obs)
    d = sb3.StateDependentNoiseDistribution(2)
    d.latent_sde_dim = 5
    d.proba_distribution(pi.net[-1](phi), pi.log_std, phi)
    with torch.no_grad():
        torch.testing.assert_close(pi.log_prob(pi(obs), act), d.log_prob(act))
        torch.testing.assert_close(pi.entropy(pi(obs)), d.entropy())


def test_make_policy_sde_only_for_box_actions():
    envs = make_vec_env("Pendulum-v1", 1)
    assert isinstance(make_policy(envs, use_sde=True), SDEGaussianPolicy)
    assert type(make_policy(envs)) is GaussianPolicy
    envs.close()
    envs = make_vec_env("CartPole-v1", 1)
    with pytest.raises(ValueError, match="Box"):
        make_policy(envs, use_sde=True)
    envs.close()


def test_kl_estimates_k1_k3():
    torch.manual_seed(0)
    old = torch.distributions.Categorical(logits=torch.tensor([0.0, 0.5, -0.3]))
    new = torch.distributions.Categorical(logits=torch.tensor([0.2, 0.1, 0.0]))
    a = old.sample((200_000,))
    k1, k3 = kl_estimates(new.log_prob(a), old.log_prob(a))
    exact = float(torch.distributions.kl_divergence(old, new))
    assert k1 == pytest.approx(exact, abs=3e-3)
    assert k3 == pytest.approx(exact, abs=3e-3)
    logr = new.log_prob(a) - old.log_prob(a)
    assert k1 == pytest.approx(float((-logr).mean()), rel=1e-5)
    assert k3 == pytest.approx(float((logr.exp() - 1 - logr).mean()), rel=1e-5)


class ConstantValue(torch.nn.Module):
    def forward(self, obs):
        return torch.full(obs.shape[:1], 10.0)


def test_runner_stores_terminated_truncated_and_final_values():
    envs = make_vec_env("CartPole-v1", 2, env_kwargs=dict(max_episode_steps=5))
    torch.manual_seed(0)
    pi = CategoricalPolicy(4, 2)
    runner = Runner(envs, seed=0)
    ro = runner.collect(pi, ConstantValue(), n_steps=12)
    envs.close()
    assert ro.obs.shape == (12, 2, 4) and ro.actions.shape == (12, 2)
    assert (ro.rewards == 1.0).all()
    assert not ((ro.terminated > 0) & (ro.truncated > 0)).any()
    # V(final observation) is stored exactly where an episode was cut by the time limit.
    torch.testing.assert_close(ro.final_values, 10.0 * ro.truncated)
    assert ro.truncated.any() and ro.terminated.sum() + ro.truncated.sum() == len(ro.episode_lengths)
    assert all(length <= 5 for length in ro.episode_lengths)
    assert sorted(ro.episode_lengths).count(5) >= int(ro.truncated.sum())


def test_runner_logp_matches_policy():
    envs = make_vec_env("Pendulum-v1", 3)
    torch.manual_seed(1)
    pi = GaussianPolicy(3, 1)
    ro = Runner(envs, seed=3).collect(pi, ConstantValue(), n_steps=4)
    envs.close()
    torch.testing.assert_close(ro.logp, pi.log_prob(pi(ro.obs), ro.actions))
    torch.testing.assert_close(ro.params, pi(ro.obs))


@pytest.mark.parametrize("freq, draws, again", [(4, 3, 2), (-1, 1, 1), (0, 1, 1), (1, 10, 6)])
def test_runner_holds_sde_noise_for_sde_sample_freq_steps(freq, draws, again, monkeypatch):
    """Every action is mu(s_t) + Theta^T phi(s_t) with the Theta of its window (t // freq), and windows restart with
    each rollout, as in SB3."""
    envs = make_vec_env("Pendulum-v1", 2)
    torch.manual_seed(1)
    pi = SDEGaussianPolicy(3, 1)
    drawn = []
    original = pi.sample_noise
    monkeypatch.setattr(pi, "sample_noise", lambda n, g=None: drawn.append(original(n, g)) or drawn[-1])
    runner = Runner(envs, seed=3, sde_sample_freq=freq)
    ro = runner.collect(pi, ConstantValue(), n_steps=10)
    assert len(drawn) == draws and all(d.shape == (2, 64, 1) for d in drawn)
    with torch.no_grad():
        phi = pi.net[:-1](ro.obs)
        window = (lambda t: t // freq) if freq > 0 else (lambda t: 0)
        want = torch.stack([pi(ro.obs[t])[:, :1] + torch.einsum("bj,bjk->bk", phi[t], drawn[window(t)])
                            for t in range(10)])
    torch.testing.assert_close(ro.actions, want)
    torch.testing.assert_close(ro.logp, pi.log_prob(pi(ro.obs), ro.actions))
    torch.testing.assert_close(ro.params, pi(ro.obs))
    runner.collect(pi, ConstantValue(), n_steps=6)          # the next rollout starts a new window
    envs.close()
    assert len(drawn) - draws == again



@pytest.mark.parametrize("freq", [-2, 2.5, "4", True])
def test_runner_rejects_a_bad_sde_sample_freq(freq):
    envs = make_vec_env("Pendulum-v1", 1)
    with pytest.raises(ValueError, match="sde_sample_freq"):
        Runner(envs, seed=0, sde_sample_freq=freq)
    envs.close()

def test_evaluate_is_deterministic_and_counts_returns():
    torch.manual_seed(0)
    pi = CategoricalPolicy(4, 2)
    a = evaluate(pi, "CartPole-v1", n_episodes=4, seed=5)
    b = evaluate(pi, "CartPole-v1", n_episodes=4, seed=5)
    assert a == b and 5 <= a <= 500
    # The same episodes one by one, by hand.
    returns = []
    for i in range(4):
        env = gym.make("CartPole-v1")
        obs, _ = env.reset(seed=5 + i)
        done, total = False, 0.0
        while not done:
            with torch.no_grad():
                act = int(pi(torch.as_tensor(obs[None], dtype=torch.float32)).argmax())
            obs, r, term, trunc, _ = env.step(act)
            total += r
            done = term or trunc
        returns.append(total)
    assert a == pytest.approx(np.mean(returns))


def test_eval_every_callback_adds_eval_return_and_stops_at_target():
    from kllib.rl import EvalEvery, ppo

    cb = EvalEvery("CartPole-v1", every=512, episodes=2, target=-1.0)   # any return reaches -1: stop at once
    out = ppo(total_steps=2048, n_envs=4, n_steps=64, seed=0, callback=cb)
    h = out.history
    assert h["env_steps"].tolist() == [256, 512]
    assert np.isnan(h["eval_return"][0]) and h["eval_return"][1] >= 8


@pytest.mark.parametrize("name", ["kllib.rl.common", "kllib.rl.ppo", "kllib.rl.trpo", "kllib.checks.ppo"])
def test_doctests(name):
    import doctest
    import importlib

    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS, verbose=False)
    assert result.failed == 0 and result.attempted > 0
