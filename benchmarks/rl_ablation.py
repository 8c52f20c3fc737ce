"""What PPO's implementation details buy on CartPole-v1: steps to a mean deterministic return of 475, per seed.

Each variant changes one field of ``kllib.rl.PPOConfig`` (the defaults are the "all details" baseline):
advantage normalisation off, no value loss (the critic stays at its initialisation), PyTorch's default
initialisation instead of orthogonal, an entropy bonus of 0.01, learning-rate annealing on. The protocol is
that of ``rl_benchmark.py`` (evaluation of 10 deterministic episodes whenever >= 1024 steps passed, seeded
with seed + 10000; one torch thread), with a budget of 50,000 steps (unsolved: null). The PPO chapter loads
the JSON and asserts what its prose says about the table.

Usage::

    python benchmarks/rl_ablation.py --first-seed 0 --seeds 10     # writes benchmarks/results/rl_ablation.{json,md}
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

torch.set_num_threads(1)

from kllib.rl import PPOConfig, evaluate, ppo  # noqa: E402

TARGET, BUDGET, EVAL_EVERY = 475.0, 50_000, 1024
RESULTS = Path(__file__).resolve().parent / "results"
VARIANTS = {
    "all details (defaults)": {},
    "no advantage normalisation": dict(norm_adv=False),
    "no value loss": dict(vf_coef=0.0),
    "default (not orthogonal) init": dict(ortho_init=False),
    "entropy bonus 0.01": dict(ent_coef=0.01),
    "learning-rate annealing": dict(anneal_lr=True),
}


def steps_to_target(seed: int, overrides: dict) -> int | None:
    state = dict(last=0, hit=None)

    def callback(row, policy):
        if row["env_steps"] - state["last"] < EVAL_EVERY:
            return False
        state["last"] = row["env_steps"]
        if evaluate(policy, "CartPole-v1", 10, seed=seed + 10_000) >= TARGET:
            state["hit"] = int(row["env_steps"])
            return True
        return False

    ppo(PPOConfig(total_steps=BUDGET, seed=seed, **overrides), callback)
    return state["hit"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--out", default=str(RESULTS / "rl_ablation"))
    args = ap.parse_args()
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    records = {name: [] for name in VARIANTS}
    for seed in seeds:
        for name, overrides in VARIANTS.items():
            t = time.process_time()
            records[name].append(dict(seed=seed, steps=steps_to_target(seed, overrides)))
            print(f"seed {seed} {name:32s} steps {records[name][-1]['steps']} ({time.process_time() - t:.1f} CPU s)",
                  flush=True)
    lines = [f"PPO on CartPole-v1, steps to a deterministic return of {TARGET:.0f} (budget {BUDGET:,}; unsolved counted "
             f"as the budget in the median), seeds {seeds[0]}-{seeds[-1]}.", "",
             "| variant | solved | median steps | per seed |", "|---|---|---|---|"]
    summary = {}
    for name, runs in records.items():
        steps = [r["steps"] if r["steps"] is not None else BUDGET for r in runs]
        solved = sum(r["steps"] is not None for r in runs)
        summary[name] = dict(solved=solved, total=len(runs), median_steps=float(np.median(steps)))
        per_seed = ", ".join("–" if r["steps"] is None else f"{r['steps']:,}" for r in runs)
        lines.append(f"| {name} | {solved}/{len(runs)} | {np.median(steps):,.0f} | {per_seed} |")
    Path(args.out + ".json").write_text(json.dumps(dict(env="CartPole-v1", target=TARGET, budget=BUDGET, seeds=seeds,
                                                        variants=VARIANTS, records=records, summary=summary),
                                                   indent=1) + "\n")
    Path(args.out + ".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
