"""Tests for kllib.rl.ppo: the clipped objective, the adaptive β rule, the ratio, training."""
import numpy as np
import pytest
import torch

from kllib.rl import EvalEvery, PPOConfig, clipped_surrogate, evaluate, ppo, probability_ratio, update_beta
from kllib.rl.common import CategoricalPolicy


def test_clipped_surrogate_hand_computed_batch():
    ratio = torch.tensor([1.5, 1.5, 0.5, 0.5, 1.1, 0.9])
    adv = torch.tensor([2.0, -2.0, 2.0, -2.0, 1.0, -1.0])
    # min(r A, clip(r) A) with ε = 0.2, term by term:
    #   r=1.5, A=+2: min(3.0, 2.4)  = 2.4   (clipped: no reward beyond 1+ε)
    #   r=1.5, A=-2: min(-3.0,-2.4) = -3.0  (unclipped: the pessimistic term)
    #   r=0.5, A=+2: min(1.0, 1.6)  = 1.0
    #   r=0.5, A=-2: min(-1.0,-1.6) = -1.6  (clipped: no reward below 1-ε)
    #   r=1.1, A=+1: 1.1 ; r=0.9, A=-1: -0.9 (inside the interval)
    expected = (2.4 - 3.0 + 1.0 - 1.6 + 1.1 - 0.9) / 6
    assert float(clipped_surrogate(ratio, adv, 0.2)) == pytest.approx(expected)


def test_clipped_surrogate_gradient_vanishes_outside_the_interval():
    ratio = torch.tensor([1.5, 0.5, 1.5, 0.5], requires_grad=True)
    adv = torch.tensor([1.0, -1.0, -1.0, 1.0])
    clipped_surrogate(ratio, adv, 0.2).backward()
    # Clipped terms (A>0 above 1+ε, A<0 below 1-ε) give no gradient; the others give A/B.
    assert ratio.grad.tolist() == [0.0, 0.0, -0.25, 0.25]


def test_update_beta_rule():
    d = 0.01
    assert update_beta(1.0, d / 1.5 - 1e-6, d) == 0.5
    assert update_beta(1.0, 1.5 * d + 1e-6, d) == 2.0
    assert update_beta(1.0, d / 1.5 + 1e-6, d) == 1.0
    assert update_beta(1.0, 1.5 * d - 1e-6, d) == 1.0
    assert update_beta(3.0, 0.0, d) == 1.5


def test_probability_ratio_is_that_of_the_action_taken():
    pi = CategoricalPolicy(1, 3)
    old = torch.tensor([[0.0, 0.0, 0.0]])
    new = torch.tensor([[1.0, 0.0, 0.0]])
    p_new, p_old = torch.softmax(new, -1)[0], torch.softmax(old, -1)[0]
    for a in range(3):
        act = torch.tensor([a])
        r = probability_ratio(pi, new, old, act, pi.log_prob(old, act))
        assert float(r) == pytest.approx(float(p_new[a] / p_old[a]))


def test_history_keys_and_determinism():
    a = ppo(total_steps=1024, n_envs=4, n_steps=64, n_epochs=2, seed=3)
    b = ppo(total_steps=1024, n_envs=4, n_steps=64, n_epochs=2, seed=3)
    for key in ["env_steps", "episodic_return", "kl_k1", "kl_k3", "kl_exact", "clip_frac", "entropy", "policy_loss",
                "value_loss", "beta", "epochs", "lr"]:
        assert len(a.history[key]) == 4, key
    assert a.history["env_steps"].tolist() == [256, 512, 768, 1024]
    for key in ["kl_k1", "kl_k3", "kl_exact", "policy_loss"]:
        np.testing.assert_array_equal(a.history[key], b.history[key])
    assert (a.history["kl_k3"] >= 0).all() and (a.history["kl_exact"] >= 0).all()
    assert np.isnan(a.history["beta"]).all()


def test_kl_penalty_variant_adapts_beta():
    out = ppo(total_steps=2048, n_envs=4, n_steps=64, objective="kl_penalty", beta_init=1.0, kl_target=0.01, seed=0)
    h = out.history
    for i in range(len(h["beta"]) - 1):
        assert h["beta"][i + 1] == update_beta(h["beta"][i], h["kl_exact"][i], 0.01)


def test_target_kl_stops_epochs_early():
    out = ppo(total_steps=1024, n_envs=4, n_steps=128, n_epochs=20, minibatch_size=64, target_kl=1e-4, seed=0)
    assert (out.history["epochs"] < 20).all()
    free = ppo(total_steps=1024, n_envs=4, n_steps=128, n_epochs=20, minibatch_size=64, seed=0)
    assert (free.history["epochs"] == 20).all()
    assert out.history["kl_exact"].max() < free.history["kl_exact"].max()


def test_gaussian_policy_on_pendulum_runs():
    out = ppo(env_id="Pendulum-v1", total_steps=800, n_envs=2, n_steps=200, seed=0)
    assert out.policy.discrete is False
    h = out.history
    assert h["env_steps"].tolist() == [400, 800]
    assert np.isfinite(h["episodic_return"]).all() and (h["episodic_return"] < 0).all()



def test_gsde_on_pendulum_runs_and_is_deterministic():
    kw = dict(env_id="Pendulum-v1", total_steps=800, n_envs=2, n_steps=200, seed=0, use_sde=True, sde_sample_freq=4)
    a, b = ppo(**kw), ppo(**kw)
    np.testing.assert_array_equal(a.history["kl_exact"], b.history["kl_exact"])
    assert a.policy.log_std.shape == (64, 1) and np.isfinite(a.history["entropy"]).all()

def test_bad_objective_raises():
    with pytest.raises(ValueError, match="objective"):
        ppo(objective="clipped", total_steps=64, n_envs=1, n_steps=64)


def test_treating_truncation_as_termination_changes_only_the_bootstrap():
    # Pendulum never terminates: with bootstrap_truncated=False every time-limit cut becomes a terminal state.
    kw = dict(env_id="Pendulum-v1", total_steps=800, n_envs=2, n_steps=200, seed=0)
    a, b = ppo(**kw).history, ppo(**kw, bootstrap_truncated=False).history
    assert a["kl_exact"][0] != b["kl_exact"][0]
    np.testing.assert_array_equal(a["episodic_return"][:1], b["episodic_return"][:1])


@pytest.mark.slow
def test_ppo_solves_cartpole():
    cfg = PPOConfig(total_steps=100_000, seed=0)
    out = ppo(cfg, EvalEvery("CartPole-v1", every=2048, target=475))
    ev = out.history["eval_return"]
    assert np.nanmax(ev) >= 475
    assert evaluate(out.policy, "CartPole-v1", n_episodes=10, seed=10_000) >= 475


# --------------------------------------------------------------------------- the chapter's exercise check
def clip_ok(ratio, adv, eps):
    return torch.min(ratio * adv, ratio.clamp(1 - eps, 1 + eps) * adv).mean()


CLIP_WRONG = {
    "max": (lambda r, a, e: torch.max(r * a, r.clamp(1 - e, 1 + e) * a).mean(), "pessimistic min"),
    "clip only": (lambda r, a, e: (r.clamp(1 - e, 1 + e) * a).mean(), "pessimistic min"),
    "loss sign": (lambda r, a, e: -clip_ok(r, a, e), "that is the loss"),
    "per sample": (lambda r, a, e: torch.min(r * a, r.clamp(1 - e, 1 + e) * a), "scalar"),
    "unclipped": (lambda r, a, e: (r * a).mean(), "not right"),
    "detached": (lambda r, a, e: clip_ok(r, a, e).detach(), "not differentiable"),
}


def test_ppo_clip_exercise_reference_passes(capsys):
    from kllib import checks

    checks.ppo_clip_exercise(clip_ok)
    assert "all 8 checks passed" in capsys.readouterr().out


@pytest.mark.parametrize("name", list(CLIP_WRONG))
def test_ppo_clip_exercise_names_the_mistake(name):
    from kllib import checks
    from kllib.checks import CheckError

    fn, message = CLIP_WRONG[name]
    with pytest.raises(CheckError, match=message):
        checks.ppo_clip_exercise(fn)


def test_ppo_clip_exercise_not_written():
    from kllib import checks
    from kllib.checks import CheckError

    def stub(*args):
        raise NotImplementedError()

    with pytest.raises(CheckError, match="not written yet"):
        checks.ppo_clip_exercise(stub)


# --------------------------------------------------------------------------- the GAE exercise check
def gae_ok(rewards, values, terminated, truncated, final_values, last_value, gamma, lam):
    adv, carry, v_next = np.zeros_like(rewards), np.zeros_like(last_value), last_value
    for t in reversed(range(rewards.shape[0])):
        v_next = np.where(truncated[t] > 0, final_values[t], v_next)
        delta = rewards[t] + gamma * (1 - terminated[t]) * v_next - values[t]
        carry = delta + gamma * lam * (1 - terminated[t]) * (1 - truncated[t]) * carry
        adv[t], v_next = carry, values[t]
    return adv


GAE_WRONG = {
    "truncated as terminated": (lambda r, v, te, tr, f, l, g, la: gae_ok(r, v, np.maximum(te, tr), 0 * tr, f, l, g, la),
                                "treated like a terminated one"),
    "truncation ignored": (lambda r, v, te, tr, f, l, g, la: gae_ok(r, v, te, 0 * tr, f, l, g, la),
                           "ends the episode too"),
    "returns too": (lambda r, v, te, tr, f, l, g, la: np.stack([gae_ok(r, v, te, tr, f, l, g, la)] * 2), "advantages only"),
}


def test_gae_exercise_reference_passes(capsys):
    from kllib import checks

    checks.gae_exercise(gae_ok)
    assert "all 8 checks passed" in capsys.readouterr().out


@pytest.mark.parametrize("name", list(GAE_WRONG))
def test_gae_exercise_names_the_mistake(name):
    from kllib import checks
    from kllib.checks import CheckError

    fn, message = GAE_WRONG[name]
    with pytest.raises(CheckError, match=message):
        checks.gae_exercise(fn)
