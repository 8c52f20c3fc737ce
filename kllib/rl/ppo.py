r"""Proximal policy optimisation (Schulman et al. 2017), in one file.

Every hyperparameter is a field of :class:`PPOConfig`; :func:`ppo` is the training loop, top to bottom:
collect a rollout from ``n_envs`` environments, compute GAE advantages (bootstrapping episodes cut by a
time limit), then run ``n_epochs`` passes of minibatch Adam steps on one of three objectives:

- ``objective="clip"``: the clipped surrogate
  :math:`L^{CLIP} = \mathbb E\big[\min(r_t A_t,\ \mathrm{clip}(r_t, 1-\epsilon, 1+\epsilon) A_t)\big]`
  with :math:`r_t = \pi_\theta(a_t|s_t) / \pi_{old}(a_t|s_t)`, the probability ratio **of the action taken**;
- ``objective="kl_penalty"``: :math:`\mathbb E[r_t A_t] - \beta\, \mathbb E_s[\mathrm{KL}(\pi_{old}(\cdot|s)\,\|\,\pi_\theta(\cdot|s))]`,
  with β adapted after each update (:func:`update_beta`);
- ``objective="unclipped"``: plain :math:`\mathbb E[r_t A_t]`, no trust region (for the chapter's comparison).

After every update, KL(π_old ‖ π_θ) on the rollout is logged three ways: the k1 and k3 sample
estimators on the actions taken (:func:`kllib.k1`, :func:`kllib.k3`) and the exact mean over states.
Evaluation, timing and early stopping at a target return live outside, in a ``callback``
(:class:`kllib.rl.common.EvalEvery`, ``benchmarks/rl_benchmark.py``).

References
----------
Schulman, Wolski, Dhariwal, Radford, Klimov (2017), "Proximal policy optimization algorithms", arXiv:1707.06347.
Huang et al. (2022), "The 37 implementation details of proximal policy optimization", ICLR blog track.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, Optional

import numpy as np
import torch

from kllib.rl.common import Runner, Trained, ValueNet, gae, kl_estimates, make_policy, make_vec_env, stack_rows

__all__ = ["PPOConfig", "ppo", "clipped_surrogate", "update_beta", "probability_ratio"]


@dataclass(frozen=True)
class PPOConfig:
    """Every PPO hyperparameter, with defaults that solve CartPole-v1 quickly on one CPU core.

    ``gamma`` and ``gae_lambda`` are rl-baselines3-zoo's CartPole values; ``lr``, ``n_steps``, ``n_epochs`` and
    ``minibatch_size`` were chosen with short sweeps on seeds 0-4 and 100-109 (the tuning seeds;
    ``benchmarks/rl_benchmark.py`` reports seeds 1000 and up separately, as held out).
    """

    env_id: str = "CartPole-v1"
    env_kwargs: Optional[dict] = None
    total_steps: int = 100_000          # environment steps (summed over the n_envs copies)
    n_envs: int = 8
    n_steps: int = 64                   # steps per environment per rollout: batch = n_envs * n_steps
    gamma: float = 0.98
    gae_lambda: float = 0.8
    bootstrap_truncated: bool = True    # False: treat a time-limit cut as a terminal state (the mistake)
    reward_scale: float = 1.0           # multiply rewards by this before GAE (keeps value targets near 1)
    lr: float = 2e-3
    anneal_lr: bool = False             # decay lr linearly to 0 over total_steps
    n_epochs: int = 10
    minibatch_size: int = 256
    objective: str = "clip"             # "clip" | "kl_penalty" | "unclipped" (plain r·A, no trust region)
    clip_coef: float = 0.2
    kl_target: float = 0.01             # d_targ of the adaptive KL penalty
    beta_init: float = 1.0
    target_kl: Optional[float] = None   # stop the epochs early once the k3 estimate exceeds this
    norm_adv: bool = True               # standardise advantages per minibatch
    vf_coef: float = 0.5                # weight of the value loss (0: the critic never learns)
    ent_coef: float = 0.0               # entropy bonus
    max_grad_norm: float = 0.5
    ortho_init: bool = True             # orthogonal initialisation (False: PyTorch's default)
    hidden: tuple = (64, 64)
    log_std_init: float = 0.0           # Gaussian policies: initial log σ
    use_sde: bool = False               # Gaussian policies: gSDE exploration (SDEGaussianPolicy; log_std_init
                                        # is then the log σ of each entry of the noise matrix)
    sde_sample_freq: int = -1           # gSDE: new noise every this many steps (-1: once per rollout)
    seed: int = 0


def clipped_surrogate(ratio: torch.Tensor, adv: torch.Tensor, clip_coef: float) -> torch.Tensor:
    r"""The PPO clipped surrogate, to be **maximised**:

    .. math:: L^{CLIP} = \frac1B\sum_t \min\big(r_t A_t,\ \mathrm{clip}(r_t, 1-\epsilon, 1+\epsilon)\,A_t\big).

    For :math:`A_t > 0` the objective stops rewarding ratios above :math:`1+\epsilon`; for
    :math:`A_t < 0` it stops rewarding ratios below :math:`1-\epsilon`. The pessimistic ``min``
    keeps the unclipped term whenever it is worse, so moving the wrong way is always penalised.

    Examples
    --------
    >>> r = torch.tensor([1.5, 0.5, 1.1]); A = torch.tensor([1.0, -1.0, 2.0])
    >>> round(float(clipped_surrogate(r, A, 0.2)), 6)  # (1.2 - 0.8 + 2.2) / 3
    0.866667

    References
    ----------
    Schulman et al. (2017), eq. (7).
    """
    return torch.min(ratio * adv, ratio.clamp(1.0 - clip_coef, 1.0 + clip_coef) * adv).mean()


def update_beta(beta: float, kl: float, kl_target: float) -> float:
    r"""The adaptive KL-penalty rule of the PPO paper (section 4).

    With :math:`d` the measured mean KL after an update: :math:`\beta \leftarrow \beta/2` if
    :math:`d < d_{targ}/1.5`, :math:`\beta \leftarrow 2\beta` if :math:`d > 1.5\,d_{targ}`, else unchanged.

    >>> update_beta(1.0, 0.001, 0.01), update_beta(1.0, 0.02, 0.01), update_beta(1.0, 0.01, 0.01)
    (0.5, 2.0, 1.0)
    """
    if kl < kl_target / 1.5:
        return beta / 2.0
    if kl > kl_target * 1.5:
        return beta * 2.0
    return beta


def probability_ratio(policy, params: torch.Tensor, params_old: torch.Tensor, actions: torch.Tensor,
                      logp_old: torch.Tensor) -> torch.Tensor:
    r"""The ratio of the action taken, :math:`r_t = \exp(\log\pi_\theta(a_t|s_t) - \log\pi_{old}(a_t|s_t))`.

    ``params``/``params_old``: the new and old distribution parameters at the states; ``logp_old``:
    the old log-probabilities of ``actions``, stored in the rollout (``params_old`` is not needed for
    the correct ratio; it is passed so that the chapter can swap in the "all actions" mistake).

    >>> from kllib.rl.common import CategoricalPolicy
    >>> z = torch.zeros(1, 2)
    >>> float(probability_ratio(CategoricalPolicy, z, z, torch.tensor([0]), torch.log(torch.tensor([0.25]))))
    2.0
    """
    return torch.exp(policy.log_prob(params, actions) - logp_old)


def ppo(cfg: PPOConfig = PPOConfig(), callback: Callable[[dict, torch.nn.Module], bool] | None = None,
        **overrides) -> Trained:
    """Train a PPO agent; return ``Trained(policy, value, history)``.

    Parameters
    ----------
    cfg : PPOConfig
        The hyperparameters; keyword ``overrides`` replace its fields (``ppo(total_steps=30_000, seed=1)``).
    callback : callable, optional
        ``callback(row, policy)`` after every update, with that update's history row (a dict it may add
        keys to, e.g. :class:`kllib.rl.common.EvalEvery` adds ``eval_return``); returning True stops training.

    Returns
    -------
    Trained
        ``history`` has one entry per update under the keys ``update``, ``env_steps``, ``episodic_return``
        (mean return of the training episodes that ended during the rollout, nan if none), ``kl_k1``,
        ``kl_k3``, ``kl_exact`` (KL(π_old ‖ π_θ) after the update), ``clip_frac`` (fraction of ratios
        outside [1-ε, 1+ε]), ``entropy``, ``policy_loss``, ``value_loss``, ``beta`` (the penalty used in
        this update; nan unless ``objective="kl_penalty"``), ``epochs`` (fewer after an early stop), ``lr``.

    Examples
    --------
    >>> out = ppo(total_steps=1024, n_envs=4, n_steps=128, seed=0)
    >>> out.history["env_steps"].tolist()
    [512, 1024]
    """
    cfg = replace(cfg, **overrides)
    if cfg.objective not in ("clip", "kl_penalty", "unclipped"):
        raise ValueError(f"objective must be 'clip', 'kl_penalty' or 'unclipped', got {cfg.objective!r}.")
    torch.manual_seed(cfg.seed)
    envs = make_vec_env(cfg.env_id, cfg.n_envs, cfg.env_kwargs)
    policy = make_policy(envs, cfg.hidden, cfg.log_std_init, cfg.ortho_init, cfg.use_sde)
    value = ValueNet(int(np.prod(envs.single_observation_space.shape)), cfg.hidden, cfg.ortho_init)
    params = list(policy.parameters()) + list(value.parameters())
    optimizer = torch.optim.Adam(params, lr=cfg.lr, eps=1e-5, fused=True)
    runner = Runner(envs, cfg.seed, cfg.sde_sample_freq)
    shuffle = torch.Generator().manual_seed(cfg.seed + 1)

    batch = cfg.n_envs * cfg.n_steps
    mb = min(cfg.minibatch_size, batch)
    n_updates = max(cfg.total_steps // batch, 1)
    beta, rows = cfg.beta_init, []
    for update in range(n_updates):
        # 1. Learning rate: constant, or annealed linearly to 0.
        lr = cfg.lr * (1.0 - update / n_updates) if cfg.anneal_lr else cfg.lr
        for group in optimizer.param_groups:
            group["lr"] = lr

        # 2. Rollout with the current (soon "old") policy, then GAE advantages and return targets.
        ro = runner.collect(policy, value, cfg.n_steps)
        truncated = ro.truncated if cfg.bootstrap_truncated else torch.zeros_like(ro.truncated)
        terminated = ro.terminated if cfg.bootstrap_truncated else ro.terminated + ro.truncated
        adv, ret = gae(cfg.reward_scale * ro.rewards, ro.values, terminated, truncated, ro.final_values,
                       ro.last_value, cfg.gamma, cfg.gae_lambda)
        b_obs = ro.obs.reshape(batch, -1)
        b_act = ro.actions.reshape(batch, *ro.actions.shape[2:])
        b_logp, b_params = ro.logp.reshape(batch), ro.params.reshape(batch, -1)
        b_adv, b_ret = adv.reshape(batch), ret.reshape(batch)

        # 3. Several epochs of minibatch steps on the surrogate plus the value loss.
        epochs_done, stop = 0, False
        pg_loss = v_loss = torch.tensor(float("nan"))
        for epoch in range(cfg.n_epochs):
            perm = torch.randperm(batch, generator=shuffle)
            for start in range(0, batch, mb):
                idx = perm[start:start + mb]
                new_params = policy(b_obs[idx])
                ratio = probability_ratio(policy, new_params, b_params[idx], b_act[idx], b_logp[idx])
                if cfg.target_kl is not None:
                    with torch.no_grad():
                        log_r = ratio.log()
                        if float((ratio - 1 - log_r).mean()) > cfg.target_kl:   # k3 before this step
                            stop = True
                            break
                a = b_adv[idx]
                if cfg.norm_adv and len(a) > 1:
                    a = (a - a.mean()) / (a.std() + 1e-8)
                if cfg.objective == "clip":
                    pg_loss = -clipped_surrogate(ratio, a, cfg.clip_coef)
                elif cfg.objective == "kl_penalty":
                    pg_loss = -(ratio * a).mean() + beta * policy.kl(b_params[idx], new_params).mean()
                else:
                    pg_loss = -(ratio * a).mean()
                v_loss = 0.5 * (value(b_obs[idx]) - b_ret[idx]).pow(2).mean()
                loss = pg_loss + cfg.vf_coef * v_loss - cfg.ent_coef * policy.entropy(new_params).mean()
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
                optimizer.step()
            if stop:
                break
            epochs_done += 1

        # 4. How far did the policy move? KL(π_old ‖ π_θ) on the rollout's states and actions.
        with torch.no_grad():
            new_params = policy(b_obs)
            logp_new = policy.log_prob(new_params, b_act)
            k1, k3 = kl_estimates(logp_new, b_logp)
            kl_exact = float(policy.kl(b_params, new_params).mean())
            clip_frac = float(((logp_new - b_logp).exp() - 1.0).abs().gt(cfg.clip_coef).float().mean())
            ent = float(policy.entropy(new_params).mean())
        beta_used = beta if cfg.objective == "kl_penalty" else float("nan")
        if cfg.objective == "kl_penalty":
            beta = update_beta(beta, kl_exact, cfg.kl_target)

        # 5. Log.
        row = dict(
            update=update, env_steps=(update + 1) * batch,
            episodic_return=float(np.mean(ro.episode_returns)) if ro.episode_returns else float("nan"),
            kl_k1=k1, kl_k3=k3, kl_exact=kl_exact, clip_frac=clip_frac, entropy=ent,
            policy_loss=float(pg_loss.detach()), value_loss=float(v_loss.detach()), beta=beta_used,
            epochs=epochs_done, lr=lr,
        )
        rows.append(row)
        if callback is not None and callback(row, policy):
            break
    envs.close()
    return Trained(policy, value, stack_rows(rows))
