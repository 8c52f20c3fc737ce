r"""Trust region policy optimisation (Schulman et al. 2015), in one file.

Each update maximises the surrogate :math:`L(\theta) = \mathbb E[r_t(\theta) A_t]` subject to
:math:`\bar{\mathrm{KL}}(\pi_{old}\,\|\,\pi_\theta) \le \delta`, using the quadratic model of the KL,
:math:`\tfrac12 \Delta\theta^\top F \Delta\theta`, where :math:`F` is the Fisher information:

1. :math:`g = \nabla_\theta L` at :math:`\theta_{old}`;
2. :math:`s \approx F^{-1} g` by :func:`conjugate_gradient`, which only needs products :math:`Fv`,
   computed by double back-propagation of the mean KL (:func:`fisher_vector_product`, with damping);
3. the step :math:`\Delta\theta = \sqrt{2\delta / s^\top F s}\; s` (where the quadratic model of the KL equals δ);
4. :func:`line_search`: try :math:`\theta_{old} + 0.8^k \Delta\theta`, accept the first that satisfies the
   **exact** KL constraint and improves the surrogate, otherwise do not move.

The value function is fitted separately with Adam on the GAE return targets. Evaluation, timing and early
stopping at a target return live outside, in a ``callback`` (:class:`kllib.rl.common.EvalEvery`,
``benchmarks/rl_benchmark.py``).

References
----------
Schulman, Levine, Moritz, Jordan, Abbeel (2015), "Trust region policy optimization", ICML.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, NamedTuple, Optional

import numpy as np
import torch
from torch.nn.utils import parameters_to_vector, vector_to_parameters

from kllib.rl.common import Runner, Trained, ValueNet, gae, kl_estimates, make_policy, make_vec_env, stack_rows

__all__ = ["TRPOConfig", "trpo", "fisher_vector_product", "make_fvp", "conjugate_gradient", "line_search",
           "LineSearchResult"]


@dataclass(frozen=True)
class TRPOConfig:
    """Every TRPO hyperparameter, with defaults that solve CartPole-v1 quickly on one CPU core.

    ``damping = 1e-3`` and ``cg_iters = 15`` are the values of sb3-contrib/rl-baselines3-zoo for CartPole;
    the others were chosen with short sweeps on seeds 0-4 and 100-109 (the tuning seeds;
    ``benchmarks/rl_benchmark.py`` reports seeds 1000 and up separately, as held out).
    """

    env_id: str = "CartPole-v1"
    env_kwargs: Optional[dict] = None
    total_steps: int = 100_000
    n_envs: int = 8
    n_steps: int = 128                  # batch = n_envs * n_steps
    gamma: float = 0.99
    gae_lambda: float = 0.95
    reward_scale: float = 1.0           # multiply rewards by this before GAE (keeps value targets near 1)
    max_kl: float = 0.01                # δ, the trust region radius in nats
    damping: float = 1e-3               # F + damping·I in the conjugate gradient
    cg_iters: int = 15
    backtrack_iters: int = 10
    backtrack_shrink: float = 0.8
    norm_adv: bool = True
    vf_lr: float = 1e-3
    vf_epochs: int = 10                 # passes of Adam over the rollout for the value function
    vf_minibatch_size: int = 256
    hidden: tuple = (64, 64)
    log_std_init: float = 0.0
    use_sde: bool = False               # Gaussian policies: gSDE exploration (SDEGaussianPolicy; log_std_init
                                        # is then the log σ of each entry of the noise matrix)
    sde_sample_freq: int = -1           # gSDE: new noise every this many steps (-1: once per rollout)
    seed: int = 0


def flat_grad(y: torch.Tensor, params, **kwargs) -> torch.Tensor:
    """∂y/∂params as one flat vector (zeros for parameters y does not depend on)."""
    grads = torch.autograd.grad(y, params, allow_unused=True, **kwargs)
    return torch.cat([(g if g is not None else torch.zeros_like(p)).reshape(-1) for g, p in zip(grads, params)])


def make_fvp(mean_kl: torch.Tensor, params, damping: float = 0.0) -> Callable[[torch.Tensor], torch.Tensor]:
    r"""Return ``v ↦ (F + damping·I) v``, the Fisher-vector product, by double back-propagation.

    ``mean_kl`` must be the mean :math:`\mathrm{KL}(\pi_{old}\,\|\,\pi_\theta)` built with a graph to
    ``params`` and evaluated **at** :math:`\theta = \theta_{old}` (the old distribution detached).
    There its gradient is zero and its Hessian is the Fisher information :math:`F`, so
    :math:`Fv = \nabla_\theta\big((\nabla_\theta \overline{\mathrm{KL}})^\top v\big)`: two backward
    passes, never the matrix. The first gradient is built once and reused for every ``v``.
    """
    params = list(params)
    g = flat_grad(mean_kl, params, create_graph=True)

    def fvp(v: torch.Tensor) -> torch.Tensor:
        hv = flat_grad(g @ v.detach(), params, retain_graph=True)
        return hv + damping * v

    return fvp


def fisher_vector_product(mean_kl: torch.Tensor, params, v: torch.Tensor, damping: float = 0.0) -> torch.Tensor:
    r"""The Fisher-vector product :math:`(F + \lambda I)v` at :math:`\theta_{old}` (see :func:`make_fvp`).

    For a softmax policy with the logits as parameters, :math:`F = \mathrm{diag}(p) - pp^\top`.

    Examples
    --------
    >>> from kllib.rl.common import CategoricalPolicy
    >>> logits = torch.tensor([0.0, 1.0, 2.0], requires_grad=True)
    >>> kl = CategoricalPolicy.kl(logits.detach(), logits)
    >>> v = torch.tensor([1.0, 0.0, 0.0])
    >>> p = torch.softmax(logits.detach(), -1)
    >>> torch.allclose(fisher_vector_product(kl, [logits], v), (torch.diag(p) - torch.outer(p, p)) @ v)
    True
    """
    return make_fvp(mean_kl, params, damping)(v)


def conjugate_gradient(Avp: Callable[[torch.Tensor], torch.Tensor], b: torch.Tensor, n_iters: int = 10,
                       residual_tol: float = 1e-10) -> torch.Tensor:
    r"""Approximately solve :math:`A x = b` for symmetric positive-definite :math:`A`, given only ``Avp(v) = A v``.

    Starts at :math:`x = 0`; after at most ``n`` iterations (``n`` = dimension) the solution is
    exact in exact arithmetic; TRPO stops after 10 to 20 (:class:`TRPOConfig`: 15). Stops early when
    :math:`\|r\|^2 <` ``residual_tol``.

    Examples
    --------
    >>> A = torch.tensor([[4.0, 1.0], [1.0, 3.0]], dtype=torch.float64)
    >>> b = torch.tensor([1.0, 2.0], dtype=torch.float64)
    >>> conjugate_gradient(lambda v: A @ v, b, n_iters=2).tolist()  # = A⁻¹ b = [1/11, 7/11]
    [0.09090909090909091, 0.6363636363636364]
    """
    x = torch.zeros_like(b)
    r = b.clone()
    p = b.clone()
    rr = r @ r
    for _ in range(n_iters):
        if rr < residual_tol:
            break
        Ap = Avp(p)
        alpha = rr / (p @ Ap)
        x = x + alpha * p
        r = r - alpha * Ap
        rr_new = r @ r
        p = r + (rr_new / rr) * p
        rr = rr_new
    return x


class LineSearchResult(NamedTuple):
    """``accepted``: did the policy move; ``fraction``: the accepted fraction of the full step (0 if
    none); ``kl`` and ``improvement``: exact mean KL(π_old ‖ π_new) and surrogate gain at the accepted
    point (at the last point tried when nothing was accepted); ``backtracks``: shrinks tried."""

    accepted: bool
    fraction: float
    kl: float
    improvement: float
    backtracks: int


@torch.no_grad()
def line_search(policy: torch.nn.Module, full_step: torch.Tensor, surrogate_fn: Callable[[], torch.Tensor],
                kl_fn: Callable[[], torch.Tensor], max_kl: float, max_backtracks: int = 10,
                shrink: float = 0.8) -> LineSearchResult:
    r"""Backtracking line search on :math:`\theta_{old} + \text{shrink}^k \cdot \Delta\theta`, :math:`k = 0, 1, \dots`.

    Accepts the first step whose exact mean :math:`\mathrm{KL}(\pi_{old}\,\|\,\pi_\theta)` (``kl_fn()``)
    is at most ``max_kl`` **and** whose surrogate (``surrogate_fn()``, to be maximised) is larger than
    at :math:`\theta_{old}`. If no step is accepted after ``max_backtracks`` tries, the policy is
    restored to :math:`\theta_{old}`. Both functions are evaluated at the policy's current parameters.
    """
    params = list(policy.parameters())
    old = parameters_to_vector(params).clone()
    surr_old = float(surrogate_fn())
    frac, kl, improve = 1.0, float("nan"), float("nan")
    for k in range(max_backtracks):
        vector_to_parameters(old + frac * full_step, params)
        improve = float(surrogate_fn()) - surr_old
        kl = float(kl_fn())
        if kl <= max_kl and improve > 0:
            return LineSearchResult(True, frac, kl, improve, k)
        frac *= shrink
    vector_to_parameters(old, params)
    return LineSearchResult(False, 0.0, kl, improve, max_backtracks)


def trpo(cfg: TRPOConfig = TRPOConfig(), callback: Callable[[dict, torch.nn.Module], bool] | None = None,
         **overrides) -> Trained:
    """Train a TRPO agent; return ``Trained(policy, value, history)``.

    ``cfg`` holds the hyperparameters and keyword ``overrides`` replace its fields; ``callback(row, policy)``, if
    given, is called after every update with that update's history row (a dict it may add keys to) and stops
    training by returning True. ``history`` has one entry per update under the keys ``update``, ``env_steps``,
    ``episodic_return`` (as in :func:`kllib.rl.ppo.ppo`), ``kl_exact``, ``kl_k1``, ``kl_k3`` (KL(π_old ‖ π_new)
    after the step; 0 when no step was accepted), ``accepted``, ``step_fraction``, ``backtracks``,
    ``improvement`` (surrogate gain), ``expected_improvement`` (gᵀΔθ of the full step), ``entropy``, ``value_loss``.

    Examples
    --------
    >>> out = trpo(total_steps=1024, n_envs=4, n_steps=128, seed=0)
    >>> bool((out.history["kl_exact"] <= 0.01).all())
    True
    """
    cfg = replace(cfg, **overrides)
    torch.manual_seed(cfg.seed)
    envs = make_vec_env(cfg.env_id, cfg.n_envs, cfg.env_kwargs)
    policy = make_policy(envs, cfg.hidden, cfg.log_std_init, use_sde=cfg.use_sde)
    value = ValueNet(int(np.prod(envs.single_observation_space.shape)), cfg.hidden)
    vf_optimizer = torch.optim.Adam(value.parameters(), lr=cfg.vf_lr, fused=True)
    pi_params = list(policy.parameters())
    runner = Runner(envs, cfg.seed, cfg.sde_sample_freq)
    shuffle = torch.Generator().manual_seed(cfg.seed + 1)

    batch = cfg.n_envs * cfg.n_steps
    mb = min(cfg.vf_minibatch_size, batch)
    n_updates = max(cfg.total_steps // batch, 1)
    rows = []
    for update in range(n_updates):
        # 1. Rollout with π_old, then GAE advantages (bootstrapping time-limit cuts) and return targets.
        ro = runner.collect(policy, value, cfg.n_steps)
        adv, ret = gae(cfg.reward_scale * ro.rewards, ro.values, ro.terminated, ro.truncated, ro.final_values,
                       ro.last_value, cfg.gamma, cfg.gae_lambda)
        b_obs = ro.obs.reshape(batch, -1)
        b_act = ro.actions.reshape(batch, *ro.actions.shape[2:])
        b_logp, b_params = ro.logp.reshape(batch), ro.params.reshape(batch, -1)
        b_adv, b_ret = adv.reshape(batch), ret.reshape(batch)
        if cfg.norm_adv:
            b_adv = (b_adv - b_adv.mean()) / (b_adv.std() + 1e-8)

        def surrogate() -> torch.Tensor:
            return (torch.exp(policy.log_prob(policy(b_obs), b_act) - b_logp) * b_adv).mean()

        def mean_kl() -> torch.Tensor:
            return policy.kl(b_params, policy(b_obs)).mean()

        # 2. Natural gradient direction s ≈ F⁻¹ g by conjugate gradient on Fisher-vector products.
        g = flat_grad(surrogate(), pi_params)
        fvp = make_fvp(mean_kl(), pi_params, cfg.damping)
        s = conjugate_gradient(fvp, g, cfg.cg_iters)

        # 3. Scale the step so that the quadratic model of the KL equals δ.
        sFs = float(s @ fvp(s))
        full_step = np.sqrt(2 * cfg.max_kl / max(sFs, 1e-12)) * s
        expected = float(g @ full_step)

        # 4. Backtracking line search on the exact KL and the surrogate.
        ls = line_search(policy, full_step, surrogate, mean_kl, cfg.max_kl, cfg.backtrack_iters, cfg.backtrack_shrink)

        # 5. Fit the value function to the return targets.
        for epoch in range(cfg.vf_epochs):
            perm = torch.randperm(batch, generator=shuffle)
            for start in range(0, batch, mb):
                idx = perm[start:start + mb]
                v_loss = 0.5 * (value(b_obs[idx]) - b_ret[idx]).pow(2).mean()
                vf_optimizer.zero_grad(set_to_none=True)
                v_loss.backward()
                vf_optimizer.step()

        # 6. Log.
        with torch.no_grad():
            new_params = policy(b_obs)
            k1, k3 = kl_estimates(policy.log_prob(new_params, b_act), b_logp)
            kl_exact = float(policy.kl(b_params, new_params).mean())
            ent = float(policy.entropy(new_params).mean())
        row = dict(
            update=update, env_steps=(update + 1) * batch,
            episodic_return=float(np.mean(ro.episode_returns)) if ro.episode_returns else float("nan"),
            kl_exact=kl_exact, kl_k1=k1, kl_k3=k3, accepted=ls.accepted, step_fraction=ls.fraction,
            backtracks=ls.backtracks, improvement=ls.improvement if ls.accepted else 0.0,
            expected_improvement=expected, entropy=ent, value_loss=float(v_loss.detach()),
        )
        rows.append(row)
        if callback is not None and callback(row, policy):
            break
    envs.close()
    return Trained(policy, value, stack_rows(rows))
