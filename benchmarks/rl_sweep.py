"""Short sweeps of kllib's PPO/TRPO defaults on tuning seeds: steps to the target, per seed, for each setting.

The protocol is ``rl_benchmark.py``'s (evaluation of 10 deterministic episodes whenever >= 1024 steps passed,
``eval_seed(seed)``; the zoo's budget; one torch thread); each setting changes some fields of the config that
``rl_benchmark.py`` uses for the environment (``KLLIB``). Only tuning seeds (below 1000) are accepted: held-out
seeds must never inform the defaults.

Usage::

    python benchmarks/rl_sweep.py --algo trpo --env CartPole-v1 --seeds 0-9,100-109 \\
        --set '{}' '{"max_kl": 0.02}' '{"gae_lambda": 0.98}'
"""
from __future__ import annotations

import argparse
import json

import numpy as np

import rl_benchmark as rb
from kllib.rl import PPOConfig, TRPOConfig, evaluate, ppo, trpo


def seeds_from(text: str) -> list[int]:
    out = []
    for part in text.split(","):
        a, _, b = part.partition("-")
        out += list(range(int(a), int(b or a) + 1))
    if any(s >= rb.HELD_OUT for s in out):
        raise SystemExit(f"seeds from {rb.HELD_OUT} on are held out: sweep on tuning seeds only")
    return out


def steps_to_target(algo: str, env_id: str, seed: int, overrides: dict) -> int | None:
    target, budget = rb.ENVS[env_id]["target"], rb.ENVS[env_id]["budget"]
    state = dict(last=0, hit=None)

    def callback(row, policy):
        if row["env_steps"] - state["last"] < rb.EVAL_EVERY:
            return False
        state["last"] = row["env_steps"]
        if evaluate(policy, env_id, rb.EVAL_EPISODES, seed=rb.eval_seed(seed)) >= target:
            state["hit"] = int(row["env_steps"])
            return True
        return False

    hp = dict(env_id=env_id, total_steps=budget, seed=seed, **{**rb.KLLIB[(algo, env_id)], **overrides})
    ppo(PPOConfig(**hp), callback) if algo == "ppo" else trpo(TRPOConfig(**hp), callback)
    return state["hit"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--algo", choices=["ppo", "trpo"], required=True)
    ap.add_argument("--env", choices=list(rb.ENVS), default="CartPole-v1")
    ap.add_argument("--seeds", default="0-9", help="tuning seeds, e.g. 0-9,100-109")
    ap.add_argument("--set", nargs="+", default=["{}"], help="JSON objects of config overrides, one per setting")
    args = ap.parse_args()
    seeds, budget = seeds_from(args.seeds), rb.ENVS[args.env]["budget"]
    print(f"| {args.algo} on {args.env}: setting | solved | median steps | per seed |\n|---|---|---|---|", flush=True)
    for text in args.set:
        steps = [steps_to_target(args.algo, args.env, s, json.loads(text)) for s in seeds]
        counted = [budget if s is None else s for s in steps]
        per_seed = ", ".join("–" if s is None else f"{s:,}" for s in steps)
        print(f"| `{text}` | {sum(s is not None for s in steps)}/{len(steps)} | {np.median(counted):,.0f} | {per_seed} |",
              flush=True)


if __name__ == "__main__":
    main()
