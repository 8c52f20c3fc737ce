"""Per-seed distributions of the RL benchmark, as a PNG for the Benchmarks page.

Reads ``PREFIX.json`` written by ``rl_benchmark.py`` and draws, for each agent, the environment steps to the target
on every seed (tuning seeds as hollow circles, held-out seeds as filled ones, unsolved seeds as crosses at the budget)
with the median of each group as a bar.

Usage::

    python benchmarks/plot_rl.py benchmarks/results/rl_cartpole          # writes benchmarks/results/rl_cartpole.png
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from kllib.plotting import COLORS, use_style  # noqa: E402

AGENTS = ["kllib-ppo", "sb3-ppo", "kllib-trpo", "sb3-trpo"]
HELD_OUT = 1000


def main(prefix: str) -> None:
    data = json.loads(Path(prefix + ".json").read_text())
    budget, records = data["budget"], data["records"]
    use_style()
    fig, ax = plt.subplots(figsize=(7.5, 3.8))
    agents = [a for a in AGENTS if a in records]
    colour = {"kllib-ppo": COLORS["p"], "sb3-ppo": COLORS["q"], "kllib-trpo": COLORS["forward"], "sb3-trpo": COLORS["reverse"]}
    for i, agent in enumerate(agents):
        for group, offset, filled in (("tuning", -0.17, False), ("held-out", 0.17, True)):
            runs = [r for r in records[agent] if (r["seed"] >= HELD_OUT) == (group == "held-out")]
            if not runs:
                continue
            steps = np.array([r["steps"] if r["steps"] is not None else budget for r in runs], dtype=float)
            jitter = np.linspace(-0.07, 0.07, len(steps))
            solved = np.array([r["steps"] is not None for r in runs])
            ax.scatter(i + offset + jitter[solved], steps[solved], s=22, color=colour[agent],
                       facecolors=colour[agent] if filled else "white", linewidths=1.2, zorder=3)
            ax.scatter(i + offset + jitter[~solved], steps[~solved], s=30, marker="x", color=colour[agent], zorder=3)
            ax.hlines(np.median(steps), i + offset - 0.12, i + offset + 0.12, color=COLORS["neutral"], lw=2, zorder=4)
    ax.set_xticks(range(len(agents)), agents)
    ax.set_yscale("log")
    ax.set_ylabel(f"environment steps to {data['target']:g}")
    ax.set_title(f"{data['env']}: steps to the target per seed (hollow: tuning seeds, filled: held-out; bar: median)",
                 fontsize=9)
    out = Path(prefix + ".png")
    fig.savefig(out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else str(Path(__file__).resolve().parent / "results" / "rl_cartpole"))
