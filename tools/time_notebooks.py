#!/usr/bin/env python3
"""Execute each chapter notebook once and print how long it took (wall-clock seconds).

Usage:  python tools/time_notebooks.py [book/*.ipynb]
The notebooks are executed in memory with nbclient; the files are not modified.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
BUDGET = {  # seconds, from the issues: foundations 30 (45 for the theory chapters), generative models 45, RL 60
    "mutual_information": 45, "local_geometry": 45, "estimating_kl_samples": 45,
    "vae": 45, "gans": 45, "ppo": 60, "trpo": 60, "rl_for_llms": 60, "distillation": 60, "dpo": 60,
}


def main(paths: list[str]) -> int:
    paths = paths or sorted(str(p) for p in (ROOT / "book").glob("*.ipynb"))
    over = 0
    print(f"{'notebook':<28}{'seconds':>9}{'budget':>8}")
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        start = time.perf_counter()
        NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(Path(path).parent)}}).execute()
        secs = time.perf_counter() - start
        budget = BUDGET.get(Path(path).stem, 30)
        flag = "" if secs <= budget else "  OVER"
        over += bool(flag)
        print(f"{Path(path).name:<28}{secs:>9.1f}{budget:>8}{flag}", flush=True)
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
