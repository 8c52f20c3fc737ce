"""The pieces PPO and TRPO share: policies, a value network, rollouts, GAE, evaluation.

Everything here is written to be read next to :mod:`kllib.rl.ppo` and :mod:`kllib.rl.trpo`.
A *policy* maps a batch of observations to the **parameters** of an action distribution
(logits for a categorical policy; mean and log standard deviation for a diagonal Gaussian),
and offers the few operations the algorithms need on those parameters: ``log_prob``,
``entropy``, ``sample``, ``mode`` and the exact ``kl`` between two parameter batches. Working
on parameter tensors (rather than ``torch.distributions`` objects) keeps the rollout loop
lean and makes "the old policy" a plain tensor that can be stored in the rollout.

References
----------
Schulman, Moritz, Levine, Jordan, Abbeel (2016), "High-dimensional continuous control using
generalized advantage estimation", ICLR.
"""
from __future__ import annotations

from typing import NamedTuple, Sequence

import gymnasium as gym
import numpy as np
import torch
from torch import nn

__all__ = [
    "CategoricalPolicy",
    "GaussianPolicy",
    "SDEGaussianPolicy",
    "ValueNet",
    "make_policy",
    "make_vec_env",
    "Rollout",
    "Runner",
    "gae",
    "evaluate",
    "kl_estimates",
    "Trained",
    "EvalEvery",
    "stack_rows",
]


# ----------------------------------------------------------------------------------------
# Networks
# ----------------------------------------------------------------------------------------
def mlp(sizes: Sequence[int], activation: type[nn.Module] = nn.Tanh, out_gain: float = 1.0,
        ortho_init: bool = True) -> nn.Sequential:
    """A tanh MLP with orthogonal initialisation (gain √2 inside, ``out_gain`` on the last layer).

    ``ortho_init=False`` keeps PyTorch's default (uniform) initialisation instead.

    >>> net = mlp([4, 8, 2])
    >>> tuple(net(torch.zeros(3, 4)).shape)
    (3, 2)
    """
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        lin = nn.Linear(sizes[i], sizes[i + 1])
        last = i == len(sizes) - 2
        if ortho_init:
            nn.init.orthogonal_(lin.weight, out_gain if last else np.sqrt(2))
            nn.init.zeros_(lin.bias)
        layers.append(lin)
        if not last:
            layers.append(activation())
    return nn.Sequential(*layers)


class CategoricalPolicy(nn.Module):
    r"""A softmax policy :math:`\pi_\theta(a\mid s) = \mathrm{softmax}(f_\theta(s))_a` over ``n_actions``.

    ``forward(obs)`` returns the logits (the distribution's parameters), shape ``(B, n_actions)``.

    Examples
    --------
    >>> _ = torch.manual_seed(0)
    >>> pi = CategoricalPolicy(4, 2)
    >>> params = pi(torch.zeros(5, 4))
    >>> a = pi.sample(params)
    >>> tuple(pi.log_prob(params, a).shape), float(pi.kl(params, params).detach().abs().max())
    ((5,), 0.0)
    """

    discrete = True

    def __init__(self, obs_dim: int, n_actions: int, hidden: Sequence[int] = (64, 64), ortho_init: bool = True):
        super().__init__()
        self.net = mlp([obs_dim, *hidden, n_actions], out_gain=0.01, ortho_init=ortho_init)
        self.n_actions = n_actions

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """The logits, shape ``(B, n_actions)``."""
        return self.net(obs)

    @staticmethod
    def log_prob(params: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        """log π(a|s) of the action taken, shape ``(B,)``."""
        logp_all = torch.log_softmax(params, dim=-1)
        return logp_all.gather(-1, act.long().unsqueeze(-1)).squeeze(-1)

    @staticmethod
    def entropy(params: torch.Tensor) -> torch.Tensor:
        logp_all = torch.log_softmax(params, dim=-1)
        return -(logp_all.exp() * logp_all).sum(-1)

    @staticmethod
    def sample(params: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        probs = torch.softmax(params, dim=-1)
        return torch.multinomial(probs, 1, generator=generator).squeeze(-1)

    @staticmethod
    def mode(params: torch.Tensor) -> torch.Tensor:
        return params.argmax(-1)

    @staticmethod
    def kl(params_p: torch.Tensor, params_q: torch.Tensor) -> torch.Tensor:
        r"""Exact :math:`\mathrm{KL}(p\,\|\,q) = \sum_a p_a(\log p_a - \log q_a)` per state, shape ``(B,)``."""
        logp = torch.log_softmax(params_p, dim=-1)
        logq = torch.log_softmax(params_q, dim=-1)
        return (logp.exp() * (logp - logq)).sum(-1)

    def dist(self, obs: torch.Tensor) -> torch.distributions.Categorical:
        """The policy at ``obs`` as a ``torch.distributions.Categorical`` (for plots and checks)."""
        return torch.distributions.Categorical(logits=self(obs))


class GaussianPolicy(nn.Module):
    r"""A diagonal Gaussian policy :math:`\mathcal N(\mu_\theta(s), \mathrm{diag}\,\sigma^2)`.

    The mean comes from an MLP, :math:`\log\sigma` is a free parameter vector (state
    independent), as in the PPO and TRPO papers. ``forward(obs)`` returns
    ``cat([mean, log_std])``, shape ``(B, 2 * act_dim)``. Actions are sampled unclipped;
    the training loop clips them to the action space when it steps the environment.

    Examples
    --------
    >>> _ = torch.manual_seed(0)
    >>> pi = GaussianPolicy(3, 1)
    >>> params = pi(torch.zeros(5, 3))
    >>> tuple(params.shape), tuple(pi.sample(params).shape)
    ((5, 2), (5, 1))
    """

    discrete = False

    def __init__(self, obs_dim: int, act_dim: int, hidden: Sequence[int] = (64, 64), log_std_init: float = 0.0,
                 ortho_init: bool = True):
        super().__init__()
        self.net = mlp([obs_dim, *hidden, act_dim], out_gain=0.01, ortho_init=ortho_init)
        self.log_std = nn.Parameter(torch.full((act_dim,), float(log_std_init)))
        self.act_dim = act_dim

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """``cat([mean, log_std])``, shape ``(B, 2 * act_dim)``."""
        mean = self.net(obs)
        return torch.cat([mean, self.log_std.expand_as(mean)], dim=-1)

    @staticmethod
    def _split(params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        d = params.shape[-1] // 2
        return params[..., :d], params[..., d:]

    @classmethod
    def log_prob(cls, params: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        mean, log_std = cls._split(params)
        z = (act - mean) * torch.exp(-log_std)
        return (-0.5 * z.pow(2) - log_std - 0.5 * np.log(2 * np.pi)).sum(-1)

    @classmethod
    def entropy(cls, params: torch.Tensor) -> torch.Tensor:
        _, log_std = cls._split(params)
        return (log_std + 0.5 * np.log(2 * np.pi * np.e)).sum(-1)

    @classmethod
    def sample(cls, params: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        mean, log_std = cls._split(params)
        eps = torch.randn(mean.shape, generator=generator, dtype=mean.dtype)
        return mean + eps * log_std.exp()

    @classmethod
    def mode(cls, params: torch.Tensor) -> torch.Tensor:
        return cls._split(params)[0]

    @classmethod
    def kl(cls, params_p: torch.Tensor, params_q: torch.Tensor) -> torch.Tensor:
        r"""Exact KL between diagonal Gaussians, summed over action dimensions, shape ``(B,)``.

        :math:`\sum_i \log\frac{\sigma_{q,i}}{\sigma_{p,i}} + \frac{\sigma_{p,i}^2 + (\mu_{p,i}-\mu_{q,i})^2}{2\sigma_{q,i}^2} - \frac12`.
        """
        mp, lp = cls._split(params_p)
        mq, lq = cls._split(params_q)
        return (lq - lp + (torch.exp(2 * lp) + (mp - mq).pow(2)) / (2 * torch.exp(2 * lq)) - 0.5).sum(-1)

    def dist(self, obs: torch.Tensor) -> torch.distributions.Independent:
        """The policy at ``obs`` as a ``torch.distributions`` object (for plots and checks)."""
        mean, log_std = self._split(self(obs))
        return torch.distributions.Independent(torch.distributions.Normal(mean, log_std.exp()), 1)


class SDEGaussianPolicy(GaussianPolicy):
    r"""A Gaussian policy with generalised state-dependent exploration (gSDE; Raffin, Kober, Stulp 2022).

    The noise is a linear function of the policy's last hidden features :math:`\phi(s)`: the action is
    :math:`a = \mu_\theta(s) + \Theta^\top \phi(s)` with a noise matrix :math:`\Theta_{jk} \sim \mathcal N(0, \sigma_{jk}^2)`
    that the rollout draws every ``sde_sample_freq`` steps and **holds in between**, so that, while it is held,
    the same state gets the same perturbation and consecutive perturbations are correlated (independent noise at
    every step tends to cancel out over a few steps). For a freshly drawn :math:`\Theta` the action given the state is
    Gaussian:

    .. math:: a_k \mid s \sim \mathcal N\Big(\mu_k(s),\ \sum_j \phi_j(s)^2 \sigma_{jk}^2\Big),

    so ``forward(obs)`` returns ``cat([mean, log_std(s)])`` with that state-dependent standard deviation, and
    ``log_prob``, ``entropy``, ``kl`` and ``mode`` are :class:`GaussianPolicy`'s, unchanged. Within a window the
    actions are not independent draws from this Gaussian; the algorithms use it anyway, as Stable-Baselines3 does.
    As in Stable-Baselines3, :math:`\phi` is detached in the variance (the features learn from the mean only) and
    1e-6 is added to it. ``log_std`` is the matrix :math:`\log\sigma`, shape ``(features, act_dim)``:
    ``log_std_init`` sets the log σ of each entry of Θ, not of the action, whose initial standard deviation is
    :math:`\sigma\lVert\phi(s)\rVert` (about 1.2 at Pendulum-v1's start states for ``log_std_init=-0.5``,
    rather than 0.61).

    Examples
    --------
    >>> _ = torch.manual_seed(0)
    >>> pi = SDEGaussianPolicy(3, 1)
    >>> obs = torch.randn(5, 3)
    >>> noise = pi.sample_noise(5)               # one noise matrix per environment
    >>> params, act = pi.explore(obs, noise)
    >>> tuple(params.shape), tuple(act.shape), bool(torch.allclose(params, pi(obs)))
    ((5, 2), (5, 1), True)

    References
    ----------
    Raffin, Kober, Stulp (2022), "Smooth exploration for robotic reinforcement learning", CoRL 2021, PMLR 164.
    """

    def __init__(self, obs_dim: int, act_dim: int, hidden: Sequence[int] = (64, 64), log_std_init: float = 0.0,
                 ortho_init: bool = True):
        super().__init__(obs_dim, act_dim, hidden, log_std_init, ortho_init)
        self.log_std = nn.Parameter(torch.full((hidden[-1], act_dim), float(log_std_init)))

    def _params(self, phi: torch.Tensor) -> torch.Tensor:
        mean = self.net[-1](phi)
        var = phi.detach().pow(2) @ torch.exp(2 * self.log_std)
        return torch.cat([mean, 0.5 * torch.log(var + 1e-6)], dim=-1)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """``cat([mean, log_std(s)])``, shape ``(B, 2 * act_dim)``."""
        return self._params(self.net[:-1](obs))

    def sample_noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        r"""``n`` noise matrices :math:`\Theta \sim \mathcal N(0, \sigma^2)`, shape ``(n, features, act_dim)``."""
        eps = torch.randn((n, *self.log_std.shape), generator=generator, dtype=self.log_std.dtype)
        return eps * self.log_std.detach().exp()

    def explore(self, obs: torch.Tensor, noise: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        r"""The parameters at ``obs`` and the exploring action :math:`\mu(s) + \Theta^\top\phi(s)`, one Θ per row."""
        phi = self.net[:-1](obs)
        params = self._params(phi)
        return params, self._split(params)[0] + torch.einsum("bj,bjk->bk", phi, noise)


class ValueNet(nn.Module):
    """The critic :math:`V_\\phi(s)`: an MLP with one output, ``forward(obs)`` has shape ``(B,)``."""

    def __init__(self, obs_dim: int, hidden: Sequence[int] = (64, 64), ortho_init: bool = True):
        super().__init__()
        self.net = mlp([obs_dim, *hidden, 1], out_gain=1.0, ortho_init=ortho_init)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """V(s), shape ``(B,)``."""
        return self.net(obs).squeeze(-1)


def make_policy(env: gym.vector.VectorEnv | gym.Env, hidden: Sequence[int] = (64, 64), log_std_init: float = 0.0,
                ortho_init: bool = True, use_sde: bool = False) -> nn.Module:
    """The policy that fits ``env``'s spaces: categorical for ``Discrete``, Gaussian for ``Box``
    (:class:`SDEGaussianPolicy` with ``use_sde=True``)."""
    obs_space = getattr(env, "single_observation_space", env.observation_space)
    act_space = getattr(env, "single_action_space", env.action_space)
    obs_dim = int(np.prod(obs_space.shape))
    if use_sde and not isinstance(act_space, gym.spaces.Box):
        raise ValueError("use_sde=True needs a continuous (Box) action space, not "
                         f"{type(act_space).__name__}: set use_sde=False.")
    if isinstance(act_space, gym.spaces.Discrete):
        return CategoricalPolicy(obs_dim, int(act_space.n), hidden, ortho_init)
    if isinstance(act_space, gym.spaces.Box):
        cls = SDEGaussianPolicy if use_sde else GaussianPolicy
        return cls(obs_dim, int(np.prod(act_space.shape)), hidden, log_std_init, ortho_init)
    raise TypeError(f"kllib.rl supports Discrete and Box action spaces, not {type(act_space).__name__}.")


# ----------------------------------------------------------------------------------------
# Environments and rollouts
# ----------------------------------------------------------------------------------------
def make_vec_env(env_id: str, n_envs: int, env_kwargs: dict | None = None) -> gym.vector.SyncVectorEnv:
    """``n_envs`` copies of ``env_id`` in a :class:`gymnasium.vector.SyncVectorEnv`.

    The vector environment resets an episode *in the same step* it ends
    (``AutoresetMode.SAME_STEP``): the observation returned is the first one of the next
    episode, and the last observation of the finished episode is in ``info["final_obs"]``
    (needed to bootstrap the value of a truncated episode).
    """
    kw = dict(env_kwargs or {})
    return gym.vector.SyncVectorEnv(
        [lambda: gym.make(env_id, **kw) for _ in range(n_envs)],
        autoreset_mode=gym.vector.AutoresetMode.SAME_STEP,
    )


class Rollout(NamedTuple):
    """``n_steps`` transitions from ``n_envs`` environments; every tensor starts with ``(T, N)``.

    ``terminated[t]``: the episode reached a terminal state after action ``t`` (the pole fell):
    nothing comes after it, its value is 0. ``truncated[t]``: the episode was cut by a time limit
    after action ``t``; the state it reached still has a future, worth ``final_values[t]`` =
    V(final observation) (0 where the step was not truncated). ``params`` are the old policy's
    distribution parameters; ``last_value`` is V of the observation after the last step.
    """

    obs: torch.Tensor
    actions: torch.Tensor
    logp: torch.Tensor
    params: torch.Tensor
    rewards: torch.Tensor
    terminated: torch.Tensor
    truncated: torch.Tensor
    values: torch.Tensor
    final_values: torch.Tensor
    last_value: torch.Tensor
    episode_returns: list
    episode_lengths: list


class Runner:
    """Steps a vector environment with a policy, keeping the current observation between calls.

    Parameters
    ----------
    envs : SyncVectorEnv made by :func:`make_vec_env`.
    seed : seeds ``envs.reset`` (environment ``i`` gets ``seed + i``) and the action sampler.
    sde_sample_freq : for an :class:`SDEGaussianPolicy`, draw new noise matrices every this many steps
        (and at the start of every rollout); ``-1`` or ``0``: once per rollout. As in Stable-Baselines3, the
        noise is not redrawn when an episode ends.
    """

    def __init__(self, envs: gym.vector.VectorEnv, seed: int = 0, sde_sample_freq: int = -1):
        whole = isinstance(sde_sample_freq, (int, np.integer)) and not isinstance(sde_sample_freq, bool)
        if not whole or sde_sample_freq < -1:
            raise ValueError("sde_sample_freq must be a whole number of steps >= 1, or -1 (or 0) for once per "
                             f"rollout; got {sde_sample_freq!r}.")
        self.envs, self.sde_sample_freq = envs, int(sde_sample_freq)
        obs, _ = envs.reset(seed=seed)
        self.obs = torch.as_tensor(obs, dtype=torch.float32)
        self.n_envs = envs.num_envs
        self.ep_return = np.zeros(self.n_envs)
        self.ep_length = np.zeros(self.n_envs, dtype=np.int64)
        self.generator = torch.Generator().manual_seed(seed)
        space = envs.single_action_space
        self.discrete = isinstance(space, gym.spaces.Discrete)
        if not self.discrete:
            self.low, self.high = space.low, space.high

    @torch.no_grad()
    def collect(self, policy: nn.Module, value_fn: nn.Module, n_steps: int) -> Rollout:
        """Run ``n_steps`` vector steps and return them as a :class:`Rollout`."""
        N, obs_dim = self.obs.shape
        obs_buf = torch.empty((n_steps, N, obs_dim))
        logp_buf = torch.empty((n_steps, N))
        val_buf = torch.empty((n_steps, N))
        rew_buf = np.zeros((n_steps, N), dtype=np.float32)
        term_buf = np.zeros((n_steps, N), dtype=np.float32)
        trunc_buf = np.zeros((n_steps, N), dtype=np.float32)
        final_buf = np.zeros((n_steps, N), dtype=np.float32)
        acts, params_list, ep_returns, ep_lengths = [], [], [], []
        obs = self.obs
        sde = isinstance(policy, SDEGaussianPolicy)
        for t in range(n_steps):
            if sde:     # gSDE: hold each environment's noise matrix for sde_sample_freq steps
                if t == 0 or (self.sde_sample_freq > 0 and t % self.sde_sample_freq == 0):
                    noise = policy.sample_noise(N, self.generator)
                params, action = policy.explore(obs, noise)
            else:
                params = policy(obs)
                action = policy.sample(params, self.generator)
            obs_buf[t], logp_buf[t], val_buf[t] = obs, policy.log_prob(params, action), value_fn(obs)
            params_list.append(params)
            acts.append(action)
            a_np = action.numpy() if self.discrete else np.clip(action.numpy(), self.low, self.high)
            next_obs, reward, term, trunc, info = self.envs.step(a_np)
            trunc = trunc & ~term                       # a terminal state is terminal, time limit or not
            rew_buf[t], term_buf[t], trunc_buf[t] = reward, term, trunc
            self.ep_return += reward
            self.ep_length += 1
            done = term | trunc
            if done.any():
                for i in np.flatnonzero(done):
                    ep_returns.append(float(self.ep_return[i]))
                    ep_lengths.append(int(self.ep_length[i]))
                self.ep_return[done], self.ep_length[done] = 0.0, 0
            if trunc.any():                             # the value of where a cut episode stopped
                cut = np.flatnonzero(trunc)
                final = torch.as_tensor(np.stack([info["final_obs"][i] for i in cut]), dtype=torch.float32)
                final_buf[t, cut] = value_fn(final).numpy()
            obs = torch.as_tensor(next_obs, dtype=torch.float32)
        self.obs = obs
        return Rollout(
            obs=obs_buf, actions=torch.stack(acts), logp=logp_buf, params=torch.stack(params_list),
            rewards=torch.from_numpy(rew_buf), terminated=torch.from_numpy(term_buf),
            truncated=torch.from_numpy(trunc_buf), values=val_buf, final_values=torch.from_numpy(final_buf),
            last_value=value_fn(obs), episode_returns=ep_returns, episode_lengths=ep_lengths,
        )


def gae(rewards, values, terminated, truncated, final_values, last_value, gamma: float = 0.99, lam: float = 0.95):
    r"""Generalised advantage estimation (Schulman et al. 2016), with terminated and truncated episodes.

    With :math:`V'_t` the value of the state reached after step :math:`t`,

    .. math::
        \delta_t = r_t + \gamma (1 - \mathrm{term}_t)\, V'_t - V(s_t), \qquad
        \hat A_t = \delta_t + \gamma\lambda (1 - \mathrm{term}_t)(1 - \mathrm{trunc}_t)\, \hat A_{t+1},

    computed backwards over time for every environment at once; the return target is
    :math:`\hat A_t + V(s_t)`. :math:`V'_t` is ``values[t + 1]`` (``last_value`` after the last step),
    except after a truncated step, where the next observation already belongs to a new episode and
    :math:`V'_t` is ``final_values[t]``, the value of the observation where the time limit cut the
    episode: the **bootstrap**. After a terminated step :math:`V'_t` does not count (nothing follows a
    terminal state). Either way the sum stops at the end of an episode. ``lam = 1`` gives the
    Monte-Carlo advantage (bootstrapped at truncations and at the end of the rollout), ``lam = 0``
    the one-step TD error.

    Parameters
    ----------
    rewards, values, terminated, truncated, final_values : arrays or tensors of shape ``(T, N)`` (time first);
        ``terminated``/``truncated`` hold 0/1 (a step that is both counts as terminated);
        ``final_values`` is read only where ``truncated`` is 1.
    last_value : shape ``(N,)``, the value of the observation after the last step.

    Returns
    -------
    advantages, returns : same type and shape as ``rewards`` (float64 for NumPy input).

    Examples
    --------
    Three rewards of 1, γ = 0.5, λ = 1, zero values; the episode ends after step 1:

    >>> r, v, z = np.ones((3, 1)), np.zeros((3, 1)), np.zeros((3, 1))
    >>> end = np.array([[0.0], [1.0], [0.0]])
    >>> gae(r, v, end, z, z, np.zeros(1), gamma=0.5, lam=1.0)[0][:, 0].tolist()      # terminated
    [1.5, 1.0, 1.0]
    >>> gae(r, v, z, end, 4 * end, np.zeros(1), gamma=0.5, lam=1.0)[0][:, 0].tolist()  # truncated, V(final) = 4
    [2.5, 3.0, 1.0]
    """
    is_torch = isinstance(rewards, torch.Tensor)
    dtype = rewards.dtype if is_torch else torch.float64
    r, v, term, trunc, v_final = (torch.as_tensor(x, dtype=dtype)
                                  for x in (rewards, values, terminated, truncated, final_values))
    if r.ndim != 2 or any(x.shape != r.shape for x in (v, term, trunc, v_final)):
        raise ValueError("gae: rewards, values, terminated, truncated and final_values must all have shape (T, N); "
                         f"got {[tuple(x.shape) for x in (r, v, term, trunc, v_final)]}.")
    v_next = torch.as_tensor(last_value, dtype=dtype)
    if v_next.shape != r.shape[1:]:
        raise ValueError(f"gae: last_value must have shape (N,) = {tuple(r.shape[1:])}, got {tuple(v_next.shape)}.")
    trunc = trunc * (1 - term)
    adv = torch.zeros_like(r)
    last = torch.zeros_like(v_next)
    for t in range(r.shape[0] - 1, -1, -1):
        v_next = trunc[t] * v_final[t] + (1 - trunc[t]) * v_next     # bootstrap a cut episode from its final obs
        delta = r[t] + gamma * (1 - term[t]) * v_next - v[t]
        last = delta + gamma * lam * (1 - term[t]) * (1 - trunc[t]) * last
        adv[t] = last
        v_next = v[t]
    ret = adv + v
    return (adv, ret) if is_torch else (adv.numpy(), ret.numpy())


def kl_estimates(logp_new: torch.Tensor, logp_old: torch.Tensor) -> tuple[float, float]:
    r"""KL(π_old ‖ π_θ) from the actions in a rollout (drawn from π_old), with k1 and k3.

    With :math:`\log r = \log\pi_\theta(a|s) - \log\pi_{old}(a|s)`:
    k1 :math:`= \mathbb E[-\log r]` (unbiased, can be negative) and
    k3 :math:`= \mathbb E[(r - 1) - \log r]` (unbiased, never negative, lower variance).
    Uses :func:`kllib.k1` and :func:`kllib.k3` with ``q = π_old`` (the sampler) and ``p = π_θ``.

    >>> lp = torch.log(torch.tensor([0.5, 0.5]))
    >>> kl_estimates(lp, lp)
    (0.0, 0.0)
    """
    from kllib.estimators import k1, k3

    logp_new = logp_new.detach()
    logp_old = logp_old.detach()
    return (
        float(k1(logp_new, logp_old, validate=False).mean()),
        float(k3(logp_new, logp_old, validate=False).mean()),
    )


# ----------------------------------------------------------------------------------------
# Evaluation and results
# ----------------------------------------------------------------------------------------
@torch.no_grad()
def evaluate(policy: nn.Module, env_id: str, n_episodes: int = 10, seed: int = 10_000, deterministic: bool = True,
             env_kwargs: dict | None = None) -> float:
    """Mean undiscounted return of ``policy`` over ``n_episodes`` episodes.

    The episodes run side by side in a vector environment (episode ``i`` is seeded with
    ``seed + i``). ``deterministic=True`` takes the most likely action (the mean of a Gaussian);
    ``deterministic=False`` samples the Gaussian of the policy's parameters (for an :class:`SDEGaussianPolicy`,
    fresh noise at every step, not held gSDE noise); continuous actions are clipped to the action space.
    """
    envs = gym.vector.SyncVectorEnv([lambda: gym.make(env_id, **(env_kwargs or {})) for _ in range(n_episodes)])
    try:
        obs, _ = envs.reset(seed=[seed + i for i in range(n_episodes)])
        total = np.zeros(n_episodes)
        running = np.ones(n_episodes, dtype=bool)
        space = envs.single_action_space
        while running.any():
            params = policy(torch.as_tensor(obs, dtype=torch.float32))
            act = policy.mode(params) if deterministic else policy.sample(params)
            a_np = act.numpy()
            if isinstance(space, gym.spaces.Box):
                a_np = np.clip(a_np, space.low, space.high)
            obs, rew, term, trunc, _ = envs.step(a_np)
            total += rew * running
            running &= ~(term | trunc)
    finally:
        envs.close()
    return float(total.mean())


class EvalEvery:
    """A ``callback`` for :func:`kllib.rl.ppo.ppo` and :func:`kllib.rl.trpo.trpo`: evaluate now and then.

    After an update, once at least ``every`` environment steps have passed since the last
    evaluation, runs :func:`evaluate` (deterministic, ``episodes`` episodes seeded from ``seed``)
    and stores the mean return in the update's row as ``eval_return`` (nan in the other rows).
    Stops training (returns True) once the return reaches ``target``, if one is given.

    >>> cb = EvalEvery("CartPole-v1", every=512, episodes=2)
    >>> cb({"env_steps": 256}, None), "eval_return" in cb.last_row
    (False, False)
    """

    def __init__(self, env_id: str, every: int, episodes: int = 10, seed: int = 10_000, target: float | None = None,
                 env_kwargs: dict | None = None):
        self.env_id, self.every, self.episodes, self.seed = env_id, every, episodes, seed
        self.target, self.env_kwargs = target, env_kwargs
        self.last_eval, self.last_row = 0, {}

    def __call__(self, row: dict, policy: nn.Module) -> bool:
        self.last_row = row
        if row["env_steps"] - self.last_eval < self.every:
            return False
        self.last_eval = row["env_steps"]
        row["eval_return"] = evaluate(policy, self.env_id, self.episodes, self.seed, env_kwargs=self.env_kwargs)
        return self.target is not None and row["eval_return"] >= self.target


class Trained(NamedTuple):
    """What :func:`kllib.rl.ppo` and :func:`kllib.rl.trpo` return.

    ``policy`` and ``value`` are the trained networks; ``history`` maps a metric name to a
    NumPy array with one entry per update (see each algorithm for the keys).
    """

    policy: nn.Module
    value: nn.Module
    history: dict


def stack_rows(rows: list[dict]) -> dict:
    """One dict of NumPy arrays from a list of per-update dicts (nan where a row lacks a key).

    >>> stack_rows([{"a": 1}, {"a": 2, "b": 3.0}])["b"].tolist()
    [nan, 3.0]
    """
    keys = list(dict.fromkeys(k for row in rows for k in row))
    return {k: np.array([row.get(k, np.nan) for row in rows]) for k in keys}
