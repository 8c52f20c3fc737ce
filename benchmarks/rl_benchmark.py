"""kllib.rl PPO and TRPO against Stable-Baselines3 PPO and sb3-contrib TRPO, steps and seconds to a target return.

Protocol (the same for all four agents; it is that of the former ``rl_cartpole.py``):

- one torch thread; CPU; agents run interleaved (seed s of every agent, then seed s + 1, ...) so that load
  on the machine affects all agents alike;
- after a policy update, whenever at least 1024 environment steps have passed since the last evaluation,
  a deterministic evaluation of 10 episodes (episode i seeded with ``eval_seed(seed) + i``: every training seed
  has its own ten episodes, shared by the four agents and by no other seed);
- record the environment steps and the training wall seconds (evaluation excluded; the CPU seconds of
  the process too, as the machine may be shared) at the first evaluation whose mean return reaches the
  target; an agent that has not got there within the zoo's budget is recorded as not solved (null);
- seeds below 1000 are tuning seeds (kllib's defaults were chosen on seeds 0-4 and 100-109); seeds 1000
  and up were never used to choose a setting and are reported separately, as held out (on Pendulum-v1 the
  decision to add gSDE followed a held-out result; the setting itself was chosen on tuning seeds).

Environments: CartPole-v1 (target 475, budget 1e5 steps) and Pendulum-v1 (target -200, budget 1e5 steps).
The peers use their rl-baselines3-zoo hyperparameters (hyperparams/ppo.yml, hyperparams/trpo.yml; any
value not listed is the library default), gSDE where the zoo uses it (Pendulum-v1). kllib uses
``PPOConfig``/``TRPOConfig`` with the per-environment values in ``KLLIB`` below (none for CartPole-v1; on
Pendulum-v1 kllib PPO and TRPO explore with gSDE too, ``kllib.rl.common.SDEGaussianPolicy``, chosen on tuning
seeds 0-4 with ``rl_sweep.py``).

Statistics: per agent and seed group, the fraction solved, the median and the interquartile mean (IQM,
``rliable.metrics``) of the steps (an unsolved seed counts as the budget, so these are lower bounds when
some seed failed) and of the wall seconds (solved seeds only), with 95 % percentile-bootstrap confidence
intervals (``scipy.stats.bootstrap``, 2,000 resamples; ``rliable.library``'s bootstrap does not import
with the installed arch/pandas).

Usage::

    python benchmarks/rl_benchmark.py --env CartPole-v1 --first-seed 1000 --seeds 20 --out benchmarks/results/rl_cartpole
    python benchmarks/rl_benchmark.py --env Pendulum-v1 --first-seed 0 --seeds 10 --out benchmarks/results/rl_pendulum
    python benchmarks/rl_benchmark.py --env CartPole-v1 --summarise benchmarks/results/rl_cartpole   # tables only

Records are merged into an existing ``PREFIX.json`` (same agent and seed: replaced), so tuning and held-out
seeds can be run separately; ``PREFIX.md`` is rewritten from the merged records.
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

torch.set_num_threads(1)

import gymnasium as gym  # noqa: E402

from kllib.rl import PPOConfig, TRPOConfig, evaluate, ppo, trpo  # noqa: E402

EVAL_EVERY = 1024
EVAL_EPISODES = 10


def eval_seed(seed: int) -> int:
    """The seed of the first of training seed ``seed``'s evaluation episodes (the others follow it).

    Disjoint blocks of ten: with ``seed + 10000`` (the former protocol) consecutive training seeds shared nine of
    their ten evaluation episodes, so a few hard starting states of Pendulum-v1 sank a whole run of seeds at once.
    """
    return 100_000 + EVAL_EPISODES * seed
HELD_OUT = 1000                      # seeds >= HELD_OUT were never used to choose a setting
RESULTS = Path(__file__).resolve().parent / "results"
AGENT_NAMES = ["kllib-ppo", "sb3-ppo", "kllib-trpo", "sb3-trpo"]

ENVS = {"CartPole-v1": dict(target=475.0, budget=100_000), "Pendulum-v1": dict(target=-200.0, budget=100_000)}

# rl-baselines3-zoo hyperparameters (hyperparams/ppo.yml and trpo.yml).
ZOO = {
    ("ppo", "CartPole-v1"): dict(n_envs=8, n_steps=32, batch_size=256, gae_lambda=0.8, gamma=0.98, n_epochs=20,
                                 ent_coef=0.0, learning_rate="lin_0.001", clip_range="lin_0.2"),
    ("trpo", "CartPole-v1"): dict(n_envs=2, n_steps=512, batch_size=512, cg_damping=1e-3, gae_lambda=0.98, gamma=0.99,
                                  learning_rate=1e-3, n_critic_updates=20),
    ("ppo", "Pendulum-v1"): dict(n_envs=4, n_steps=1024, gae_lambda=0.95, gamma=0.9, n_epochs=10, ent_coef=0.0,
                                 learning_rate=1e-3, clip_range=0.2, use_sde=True, sde_sample_freq=4),
    ("trpo", "Pendulum-v1"): dict(n_envs=2, n_steps=1024, gamma=0.9, n_critic_updates=15, use_sde=True,
                                  sde_sample_freq=4),
}

# kllib's per-environment settings (chosen on tuning seeds only); CartPole-v1 uses the config defaults.
KLLIB = {
    ("ppo", "CartPole-v1"): dict(),
    ("trpo", "CartPole-v1"): dict(),
    ("ppo", "Pendulum-v1"): dict(n_envs=8, n_steps=256, gamma=0.9, gae_lambda=0.95, lr=1e-3, n_epochs=10,
                                 minibatch_size=64, reward_scale=0.1, log_std_init=-0.5, use_sde=True,
                                 sde_sample_freq=4),
    ("trpo", "Pendulum-v1"): dict(n_envs=8, n_steps=256, gamma=0.9, gae_lambda=0.95, max_kl=0.02, reward_scale=0.1,
                                  vf_lr=3e-3, vf_epochs=10, vf_minibatch_size=256, log_std_init=-0.5, use_sde=True,
                                  sde_sample_freq=4),
}


class Clock:
    """Training wall and CPU seconds since ``start()``, minus what was spent inside ``pause()``/``resume()``."""

    def start(self):
        self.t0, self.c0, self.paused_t, self.paused_c = time.perf_counter(), time.process_time(), 0.0, 0.0

    def pause(self):
        self._t, self._c = time.perf_counter(), time.process_time()
        return time.perf_counter() - self.t0 - self.paused_t, time.process_time() - self.c0 - self.paused_c

    def resume(self):
        self.paused_t += time.perf_counter() - self._t
        self.paused_c += time.process_time() - self._c


def evaluate_sb3(model, env_id: str, seed: int) -> float:
    """The same evaluation as kllib.rl.evaluate: 10 episodes side by side, deterministic actions."""
    envs = gym.vector.SyncVectorEnv([lambda: gym.make(env_id) for _ in range(EVAL_EPISODES)])
    obs, _ = envs.reset(seed=[eval_seed(seed) + i for i in range(EVAL_EPISODES)])
    total = np.zeros(EVAL_EPISODES)
    running = np.ones(EVAL_EPISODES, dtype=bool)
    while running.any():
        act, _ = model.predict(obs, deterministic=True)
        obs, rew, term, trunc, _ = envs.step(act)
        total += rew * running
        running &= ~(term | trunc)
    envs.close()
    return float(total.mean())


def run_sb3(algo: str, env_id: str, seed: int) -> dict:
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env

    target, budget = ENVS[env_id]["target"], ENVS[env_id]["budget"]
    clock = Clock()

    class SolveCallback(BaseCallback):
        """Evaluate after a policy update (at the start of the next rollout); stop once solved."""

        def __init__(self):
            super().__init__()
            self.last_eval, self.result = 0, None

        def _on_training_start(self):
            clock.start()

        def check(self):
            n = self.model.num_timesteps
            if n == 0 or n - self.last_eval < EVAL_EVERY or self.result is not None:
                return
            seconds, cpu = clock.pause()
            ret = evaluate_sb3(self.model, env_id, seed)
            clock.resume()
            self.last_eval = n
            if ret >= target:
                self.result = dict(steps=int(n), seconds=seconds, cpu_seconds=cpu)

        def _on_rollout_start(self):
            self.check()

        def _on_step(self):
            return self.result is None

    def schedule(v):
        if isinstance(v, str) and v.startswith("lin_"):
            start = float(v[4:])
            return lambda progress_remaining: progress_remaining * start
        return v

    hp = {k: schedule(v) for k, v in ZOO[(algo, env_id)].items()}
    env = make_vec_env(env_id, n_envs=hp.pop("n_envs"), seed=seed)
    if algo == "ppo":
        from stable_baselines3 import PPO as Algo
    else:
        from sb3_contrib import TRPO as Algo
    model = Algo("MlpPolicy", env, seed=seed, device="cpu", verbose=0, **hp)
    cb = SolveCallback()
    model.learn(total_timesteps=budget, callback=cb)
    cb.check()            # an update that ends exactly at the budget is evaluated here
    return cb.result or dict(steps=None, seconds=None, cpu_seconds=None)


def run_kllib(algo: str, env_id: str, seed: int) -> dict:
    target, budget = ENVS[env_id]["target"], ENVS[env_id]["budget"]
    clock, state = Clock(), dict(last_eval=0, result=None)

    def callback(row, policy):
        if row["env_steps"] - state["last_eval"] < EVAL_EVERY:
            return False
        seconds, cpu = clock.pause()
        ret = evaluate(policy, env_id, EVAL_EPISODES, seed=eval_seed(seed))
        clock.resume()
        state["last_eval"] = row["env_steps"]
        if ret >= target:
            state["result"] = dict(steps=int(row["env_steps"]), seconds=seconds, cpu_seconds=cpu)
            return True
        return False

    hp = dict(env_id=env_id, total_steps=budget, seed=seed, **KLLIB[(algo, env_id)])
    clock.start()
    ppo(PPOConfig(**hp), callback) if algo == "ppo" else trpo(TRPOConfig(**hp), callback)
    return state["result"] or dict(steps=None, seconds=None, cpu_seconds=None)


AGENTS = {
    "kllib-ppo": lambda env, s: run_kllib("ppo", env, s),
    "sb3-ppo": lambda env, s: run_sb3("ppo", env, s),
    "kllib-trpo": lambda env, s: run_kllib("trpo", env, s),
    "sb3-trpo": lambda env, s: run_sb3("trpo", env, s),
}


# ------------------------------------------------------------------------------------------ statistics
def _ci(values: np.ndarray, stat) -> tuple[float, float]:
    from scipy.stats import bootstrap

    if len(values) < 2 or np.all(values == values[0]):
        return float(stat(values)), float(stat(values))
    res = bootstrap((values,), stat, n_resamples=2000, confidence_level=0.95, method="percentile",
                    rng=np.random.default_rng(0))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def stats(values: list[float]) -> dict | None:
    """Median and IQM with 95 % bootstrap CIs (rliable's aggregate functions, scipy's bootstrap)."""
    from rliable import metrics

    v = np.asarray(values, dtype=float)
    if len(v) == 0:
        return None
    med = lambda x: float(np.median(x))                     # noqa: E731
    iqm = lambda x: float(metrics.aggregate_iqm(np.asarray(x)[:, None]))   # noqa: E731
    return dict(n=len(v), median=med(v), median_ci=_ci(v, med), iqm=iqm(v), iqm_ci=_ci(v, iqm))


def group_stats(runs: list[dict], budget: int) -> dict:
    solved = [r for r in runs if r["steps"] is not None]
    return dict(
        seeds=[r["seed"] for r in runs], solved=len(solved), total=len(runs),
        steps=stats([r["steps"] if r["steps"] is not None else budget for r in runs]),
        seconds=stats([r["seconds"] for r in solved]), cpu_seconds=stats([r["cpu_seconds"] for r in solved]),
    )


def summarise(records: dict, env_id: str) -> dict:
    budget = ENVS[env_id]["budget"]
    out = {}
    for group, keep in (("tuning", lambda s: s < HELD_OUT), ("held-out", lambda s: s >= HELD_OUT)):
        g = {a: group_stats([r for r in runs if keep(r["seed"])], budget) for a, runs in records.items()}
        out[group] = {a: v for a, v in g.items() if v["total"]}
    return out


def fmt_stat(s: dict | None, kind: str) -> str:
    if s is None:
        return "–"
    f = (lambda v: f"{v:,.0f}") if kind == "steps" else (lambda v: f"{v:.2f}")
    return (f"{f(s['median'])} [{f(s['median_ci'][0])}, {f(s['median_ci'][1])}] | "
            f"{f(s['iqm'])} [{f(s['iqm_ci'][0])}, {f(s['iqm_ci'][1])}]")


def markdown(records: dict, env_id: str, versions: str) -> str:
    t, budget = ENVS[env_id]["target"], ENVS[env_id]["budget"]
    summary = summarise(records, env_id)
    lines = [f"{env_id}: steps and training seconds until the mean deterministic return over {EVAL_EPISODES} episodes "
             f"reaches {t:g} (evaluated after an update whenever >= {EVAL_EVERY} steps passed); budget {budget:,} "
             f"steps; one torch thread; {versions}. Median and IQM with 95 % bootstrap CIs; steps count an unsolved "
             f"seed as the budget; seconds are over solved seeds.", ""]
    for group, table in summary.items():
        if not table:
            continue
        seeds = sorted({s for v in table.values() for s in v["seeds"]})
        lines += [f"**{group.capitalize()} seeds** ({', '.join(map(str, seeds)) if len(seeds) < 6 else f'{seeds[0]}–{seeds[-1]}, {len(seeds)} seeds'})", "",
                  "| agent | solved | steps: median [95% CI] | steps: IQM [95% CI] | wall s: median [95% CI] "
                  "| wall s: IQM [95% CI] | CPU s: median |",
                  "|---|---|---|---|---|---|---|"]
        for a in AGENT_NAMES:
            if a in table:
                v = table[a]
                cpu = "–" if v["cpu_seconds"] is None else f"{v['cpu_seconds']['median']:.2f}"
                lines.append(f"| {a} | {v['solved']}/{v['total']} | {fmt_stat(v['steps'], 'steps')} | "
                             f"{fmt_stat(v['seconds'], 'seconds')} | {cpu} |")
        lines.append("")
        for algo in ("ppo", "trpo"):
            a, b = table.get(f"kllib-{algo}"), table.get(f"sb3-{algo}")
            if a and b and a["steps"] and b["steps"] and a["seconds"] and b["seconds"]:
                lines.append(f"- {algo.upper()}: kllib/peer median steps = {a['steps']['median'] / b['steps']['median']:.2f} "
                             f"(target <= 1), median wall seconds = {a['seconds']['median'] / b['seconds']['median']:.2f} "
                             f"(target <= 0.5), median CPU seconds = "
                             f"{a['cpu_seconds']['median'] / b['cpu_seconds']['median']:.2f}; "
                             f"solved {a['solved']}/{a['total']} vs {b['solved']}/{b['total']}.")
        lines.append("")
    return "\n".join(lines)


def write(records: dict, env_id: str, prefix: str) -> None:
    import sb3_contrib
    import stable_baselines3

    versions = (f"torch {torch.__version__}, gymnasium {gym.__version__}, stable-baselines3 {stable_baselines3.__version__}, "
                f"sb3-contrib {sb3_contrib.__version__}, Python {platform.python_version()}")
    ordered = {a: sorted(records[a], key=lambda r: r["seed"]) for a in AGENT_NAMES if a in records}
    Path(prefix + ".json").write_text(json.dumps(dict(env=env_id, target=ENVS[env_id]["target"],
                                                      budget=ENVS[env_id]["budget"], versions=versions,
                                                      records=ordered, summary=summarise(ordered, env_id)),
                                                 indent=1) + "\n")
    Path(prefix + ".md").write_text(markdown(ordered, env_id, versions))


def load(prefix: str) -> dict:
    p = Path(prefix + ".json")
    return json.loads(p.read_text())["records"] if p.exists() else {}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--env", default="CartPole-v1", choices=list(ENVS))
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--first-seed", type=int, default=HELD_OUT)
    ap.add_argument("--agents", nargs="+", default=AGENT_NAMES, choices=AGENT_NAMES)
    ap.add_argument("--out", default=None, help="PREFIX of PREFIX.json / PREFIX.md (default results/rl_<env>)")
    ap.add_argument("--summarise", metavar="PREFIX", help="only rewrite PREFIX.md from PREFIX.json")
    args = ap.parse_args()
    if args.summarise:
        write(load(args.summarise), args.env, args.summarise)
        print(Path(args.summarise + ".md").read_text())
        return
    prefix = args.out or str(RESULTS / ("rl_" + args.env.split("-")[0].lower()))
    records = load(prefix)
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        for agent in args.agents:
            t = time.perf_counter()
            r = dict(seed=seed, **AGENTS[agent](args.env, seed))
            records[agent] = [x for x in records.get(agent, []) if x["seed"] != seed] + [r]
            print(f"{args.env} seed {seed} {agent:10s} steps {r['steps']} train_s "
                  f"{'-' if r['seconds'] is None else round(r['seconds'], 2)} cpu_s "
                  f"{'-' if r['cpu_seconds'] is None else round(r['cpu_seconds'], 2)} (run {time.perf_counter() - t:.1f} s)",
                  flush=True)
            write(records, args.env, prefix)
    print(Path(prefix + ".md").read_text())


if __name__ == "__main__":
    main()
