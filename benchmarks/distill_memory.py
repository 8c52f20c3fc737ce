"""Benchmark: peak memory of a full-vocabulary distillation loss, kllib.distill_loss chunked against unchunked.

Usage (from the repository root)::

    .venv/bin/python benchmarks/distill_memory.py              # N=1024 positions, V=32768, float32, CPU
    .venv/bin/python benchmarks/distill_memory.py --n 128 --v 4096 --no-write   # a quick smoke run

The distillation case: the student's ``[N, V]`` logits require a gradient, the teacher's do not
(computed under ``torch.no_grad()``). For each loss, forward + backward:

* forward KL(teacher || student): ``torch.nn.functional.kl_div(log_softmax(student), log_softmax(teacher),
  log_target=True, reduction="batchmean")``, ``kllib.distill_loss(..., chunked=False)`` and
  ``kllib.distill_loss(..., chunked=True)`` (built on ``kllib.kl_logits_chunked``);
* GKD's generalised JSD with beta = 0.5 (``kllib.js_logits_chunked`` when chunked) and beta = 0.9 (activation
  checkpointing per chunk when chunked), unchunked and chunked.

Peak memory is measured as in ``benchmarks/kl_memory.py``: each method runs in a fresh subprocess, which
creates the two inputs, runs a warm-up on 8 rows, reads ``ru_maxrss``, runs one forward + backward, and
reads ``ru_maxrss`` again; the difference is the memory the method needed on top of its inputs, including
the ``[N, V]`` gradient it returns (``N * V * 4`` bytes, the irreducible part). Writes
``benchmarks/results/distill_memory.json`` (loaded and asserted by ``book/distillation.ipynb``).
"""
from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "distill_memory.json"

METHODS = [
    ("forward", "F.kl_div", "forward KL, torch.nn.functional.kl_div of log_softmax"),
    ("forward", "unchunked", "forward KL, kllib.distill_loss(chunked=False)"),
    ("forward", "chunked", "forward KL, kllib.distill_loss(chunked=True)"),
    ("jsd0.5", "unchunked", "JSD beta=0.5, kllib.distill_loss(chunked=False)"),
    ("jsd0.5", "chunked", "JSD beta=0.5, kllib.distill_loss(chunked=True)"),
    ("jsd0.9", "unchunked", "JSD beta=0.9, kllib.distill_loss(chunked=False)"),
    ("jsd0.9", "chunked", "JSD beta=0.9, kllib.distill_loss(chunked=True)"),
]


def _maxrss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024     # Linux: KiB


def worker(div: str, impl: str, n: int, v: int) -> dict:
    import torch
    import torch.nn.functional as F

    from kllib.distill import distill_loss

    torch.set_num_threads(1)
    torch.manual_seed(0)
    student = torch.randn(n, v).mul_(2.0).requires_grad_(True)
    teacher = torch.randn(n, v).mul_(2.0)
    beta = {"forward": 0.5, "jsd0.5": 0.5, "jsd0.9": 0.9}[div]
    divergence = "forward" if div == "forward" else "jsd"

    def run(s, t):
        if impl == "F.kl_div":
            return F.kl_div(F.log_softmax(s, -1), F.log_softmax(t, -1), log_target=True, reduction="batchmean")
        return distill_loss(s, t, divergence=divergence, beta=beta, chunked=(impl == "chunked"))

    warm = student[:8].detach().clone().requires_grad_(True)
    run(warm, teacher[:8]).backward()
    before = _maxrss_bytes()
    t0 = time.process_time()
    loss = run(student, teacher)
    loss.backward()
    cpu = time.process_time() - t0
    peak = _maxrss_bytes() - before
    return dict(div=div, impl=impl, value=loss.item(), peak_bytes=int(peak), fb_cpu=cpu,
                grad_bytes=n * v * 4)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1024)
    ap.add_argument("--v", type=int, default=32768)
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--worker", nargs=2, metavar=("DIV", "IMPL"))
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(*args.worker, args.n, args.v)))
        return
    rows = []
    for div, impl, label in METHODS:
        out = subprocess.run([sys.executable, __file__, "--worker", div, impl, "--n", str(args.n), "--v", str(args.v)],
                             capture_output=True, text=True, check=True, env={"OMP_NUM_THREADS": "1", "PATH": ""})
        row = json.loads(out.stdout.strip().splitlines()[-1])
        row["label"] = label
        rows.append(row)
        print(f"{label:55s} peak {row['peak_bytes'] / 2**20:8.1f} MiB  cpu {row['fb_cpu']:6.2f} s  value {row['value']:.6f}")
    result = dict(n=args.n, v=args.v, dtype="float32", machine=platform.machine(), python=platform.python_version(),
                  rows=rows)
    if not args.no_write:
        RESULTS.write_text(json.dumps(result, indent=1) + "\n")
        print("wrote", RESULTS.relative_to(ROOT))


if __name__ == "__main__":
    main()
