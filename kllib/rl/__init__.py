"""Reinforcement learning with a KL leash: PPO and TRPO for Gymnasium environments.

Readable, CleanRL-style implementations (one file per algorithm, hyperparameters in one
frozen dataclass at the top, the training loop top to bottom) that run on the CPU, for
discrete (categorical) and continuous (diagonal Gaussian) action spaces, with vectorised
environments (:class:`gymnasium.vector.SyncVectorEnv`), GAE, advantage normalisation and
deterministic seeding (the same seed gives the same history).

Training
--------
``ppo(cfg=PPOConfig(), callback=None, **overrides)`` and ``trpo(cfg=TRPOConfig(), callback=None, **overrides)``
return ``Trained(policy, value, history)``::

    from kllib.rl import ppo, trpo, evaluate, EvalEvery
    out = ppo(total_steps=40_000, seed=0)                 # CartPole-v1 by default
    out = ppo(objective="kl_penalty", kl_target=0.01)     # adaptive-β KL penalty variant
    out = ppo(env_id="Pendulum-v1", total_steps=50_000)   # Gaussian policy
    out = trpo(max_kl=0.01, total_steps=50_000)
    evaluate(out.policy, "CartPole-v1", n_episodes=10)    # mean deterministic return
    out = ppo(callback=EvalEvery("CartPole-v1", every=2048, target=475))   # evaluate, stop once solved

``history`` is a dict of NumPy arrays, one entry per update. Both algorithms log
``update``, ``env_steps``, ``episodic_return`` (training episodes that ended in the rollout; nan if
none), ``kl_k1``, ``kl_k3`` (sample estimates of KL(π_old ‖ π_θ) on the rollout's actions,
:func:`kllib.k1`/:func:`kllib.k3`), ``kl_exact`` (exact mean over states), ``entropy``, ``value_loss``.
PPO adds ``clip_frac``, ``policy_loss``, ``beta``, ``epochs``, ``lr``; TRPO adds ``accepted``,
``step_fraction``, ``backtracks``, ``improvement``, ``expected_improvement``. A ``callback(row, policy)``
may add keys (:class:`~kllib.rl.common.EvalEvery` adds ``eval_return``); timing belongs to the caller
(``benchmarks/rl_benchmark.py``).

Useful config fields: ``env_id``, ``env_kwargs``, ``total_steps``, ``n_envs``, ``n_steps``, ``seed``,
``gamma``, ``gae_lambda``; PPO: ``objective`` ("clip", "kl_penalty", "unclipped"), ``clip_coef``,
``kl_target``, ``beta_init``, ``target_kl`` (early stop), ``n_epochs``, ``minibatch_size``, ``lr``,
``anneal_lr``, ``norm_adv``, ``vf_coef``, ``ent_coef``, ``ortho_init``, ``bootstrap_truncated``; both, for
Gaussian policies: ``log_std_init``, ``use_sde`` and ``sde_sample_freq`` (generalised state-dependent exploration);
TRPO: ``max_kl`` (δ), ``damping``, ``cg_iters``, ``backtrack_iters``, ``backtrack_shrink``, ``vf_lr``,
``vf_epochs``.

Pieces
------
- :mod:`kllib.rl.common`: ``CategoricalPolicy``, ``GaussianPolicy`` (``forward(obs)`` gives the
  distribution's parameters; ``log_prob``, ``entropy``, ``sample``, ``mode``, exact ``kl(params_p, params_q)``,
  ``dist(obs)``), ``SDEGaussianPolicy`` (gSDE: noise that is a function of the state, held for a few steps),
  ``ValueNet``, ``make_policy``, ``make_vec_env``, ``Runner`` (rollouts that store
  ``terminated``, ``truncated`` and the value of the final observation of a truncated episode),
  ``gae(rewards, values, terminated, truncated, final_values, last_value, gamma, lam)``, ``evaluate``,
  ``EvalEvery``, ``kl_estimates``.
- :mod:`kllib.rl.ppo`: ``clipped_surrogate(ratio, adv, clip_coef)``, ``update_beta(beta, kl, kl_target)``,
  ``probability_ratio(...)``.
- :mod:`kllib.rl.trpo`: ``fisher_vector_product(mean_kl, params, v, damping)``, ``make_fvp``,
  ``conjugate_gradient(Avp, b, n_iters)``, ``line_search(policy, full_step, surrogate_fn, kl_fn, max_kl)``.

In the book, link the functions by their module path: ``{py:func}`kllib.rl.ppo.ppo```,
``kllib.rl.ppo.clipped_surrogate``, ``kllib.rl.trpo.trpo``, ``kllib.rl.trpo.fisher_vector_product``,
``kllib.rl.common.gae``, ``kllib.rl.common.GaussianPolicy`` (the package re-exports them, but the API page
documents them in their modules).

Torch's thread count is left to the caller (``torch.set_num_threads(1)`` is fastest for these
small networks).

References
----------
Schulman et al. (2015), "Trust region policy optimization"; Schulman et al. (2017), "Proximal
policy optimization algorithms"; Schulman et al. (2016), "High-dimensional continuous control
using generalized advantage estimation".
"""
from kllib.rl.common import (
    CategoricalPolicy,
    EvalEvery,
    GaussianPolicy,
    SDEGaussianPolicy,
    Trained,
    ValueNet,
    evaluate,
    gae,
    kl_estimates,
    make_policy,
    make_vec_env,
)
from kllib.rl.ppo import PPOConfig, clipped_surrogate, ppo, probability_ratio, update_beta
from kllib.rl.trpo import (
    LineSearchResult,
    TRPOConfig,
    conjugate_gradient,
    fisher_vector_product,
    line_search,
    make_fvp,
    trpo,
)

__all__ = [
    "PPOConfig", "ppo", "clipped_surrogate", "update_beta", "probability_ratio",
    "TRPOConfig", "trpo", "fisher_vector_product", "make_fvp", "conjugate_gradient", "line_search",
    "LineSearchResult",
    "CategoricalPolicy", "GaussianPolicy", "SDEGaussianPolicy", "ValueNet", "make_policy", "make_vec_env", "gae",
    "evaluate",
    "EvalEvery", "kl_estimates", "Trained",
]
