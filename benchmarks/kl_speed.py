"""Benchmark: the kllib functions the chapters call in hot loops, one copy of kllib against another.

Usage (from the repository root)::

    # time the working copy
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/kl_speed.py
    # time another copy of the library (a directory that contains kllib/)
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/kl_speed.py --kllib-path /tmp/kllib_base
    # before/after: interleave runs of two copies and print the ratios (after / before)
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/kl_speed.py --compare /tmp/kllib_base . --rounds 6

The cases (issue 12): ``kl_std_normal`` forward + backward on a 64 x 8 batch (the VAE term), ``kl`` on
4096 x 32 probabilities and ``kl_logits`` on 4096 x 1000 logits, in NumPy and in torch, with the default
``validate=True`` and with ``validate=False`` (what a training loop passes).

How time is measured: CPU time of the process (``time.process_time``), steadier than wall-clock on a
shared machine. Every timing runs in a fresh subprocess with one thread
(``torch.set_num_threads(1)``), so two copies of kllib never share a process. Within a process each
case is called ``number`` times per repeat (chosen so that a repeat takes about 20 ms) for
``--repeats`` repeats; the per-call time of a process is the minimum over its repeats (the machine is
shared, and the minimum is the least disturbed). With ``--compare`` the two copies run alternately,
``--rounds`` times each, and the table gives for each copy the median over rounds of those minima, and the
ratio after / before of the medians. Target: ratio <= 1.1.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _cases():
    import numpy as np
    import torch

    import kllib

    rng = np.random.default_rng(0)
    out = {}

    mu = torch.randn(64, 8, dtype=torch.float32, requires_grad=True)
    lv = (0.3 * torch.randn(64, 8, dtype=torch.float32)).requires_grad_(True)

    def std_normal(validate):
        def f():
            d = kllib.kl_std_normal(mu, lv, validate=validate).mean()
            d.backward()
        return f

    out["kl_std_normal fwd+bwd 64x8 torch f32"] = std_normal(True)
    out["kl_std_normal fwd+bwd 64x8 torch f32, validate=False"] = std_normal(False)
    mun, lvn = rng.standard_normal((64, 8)), 0.3 * rng.standard_normal((64, 8))
    out["kl_std_normal 64x8 numpy f64"] = lambda: kllib.kl_std_normal(mun, lvn)

    p = rng.dirichlet(np.ones(32), size=4096)
    q = rng.dirichlet(np.ones(32), size=4096)
    out["kl 4096x32 numpy f64"] = lambda: kllib.kl(p, q)
    out["kl 4096x32 numpy f64, validate=False"] = lambda: kllib.kl(p, q, validate=False)
    pt, qt = torch.as_tensor(p, dtype=torch.float32), torch.as_tensor(q, dtype=torch.float32)
    out["kl 4096x32 torch f32"] = lambda: kllib.kl(pt, qt)
    out["kl 4096x32 torch f32, validate=False"] = lambda: kllib.kl(pt, qt, validate=False)

    zp = rng.standard_normal((4096, 1000))
    zq = rng.standard_normal((4096, 1000))
    out["kl_logits 4096x1000 numpy f64"] = lambda: kllib.kl_logits(zp, zq)
    zpt = torch.as_tensor(zp, dtype=torch.float32).requires_grad_(True)
    zqt = torch.as_tensor(zq, dtype=torch.float32)

    def logits_bwd(validate):
        def f():
            kllib.kl_logits(zpt, zqt, validate=validate).mean().backward()
        return f

    out["kl_logits 4096x1000 torch f32"] = lambda: kllib.kl_logits(zpt.detach(), zqt)
    out["kl_logits fwd+bwd 4096x1000 torch f32"] = logits_bwd(True)
    out["kl_logits fwd+bwd 4096x1000 torch f32, validate=False"] = logits_bwd(False)
    return out


def worker(repeats: int, only: str | None) -> dict:
    import torch

    torch.set_num_threads(1)
    results = {}
    for name, fn in _cases().items():
        if only and only not in name:
            continue
        for _ in range(3):  # warm up
            fn()
        t0 = time.process_time()
        fn()
        once = max(time.process_time() - t0, 1e-7)
        number = max(1, int(0.02 / once))
        best = float("inf")
        for _ in range(repeats):
            t0 = time.process_time()
            for _ in range(number):
                fn()
            best = min(best, (time.process_time() - t0) / number)
        results[name] = best
    return results


def run_copy(path: str, repeats: int, only: str | None) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(Path(path).resolve()))
    cmd = [sys.executable, __file__, "--worker", "--repeats", str(repeats)]
    if only:
        cmd += ["--only", only]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd="/tmp", check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kllib-path", default=str(ROOT), help="directory that contains the kllib package")
    ap.add_argument("--compare", nargs=2, metavar=("BEFORE", "AFTER"), help="two directories that contain kllib/")
    ap.add_argument("--rounds", type=int, default=5, help="alternating subprocess runs per copy (--compare)")
    ap.add_argument("--repeats", type=int, default=15, help="timed repeats per case in each process")
    ap.add_argument("--only", default=None, help="run only the cases whose name contains this text")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.worker:
        import kllib

        res = worker(args.repeats, args.only)
        print(json.dumps({"_kllib": os.path.dirname(kllib.__file__), **res}))
        return

    if not args.compare:
        res = run_copy(args.kllib_path, args.repeats, args.only)
        print(f"kllib from {res.pop('_kllib')}")
        for name, t in res.items():
            print(f"{name:60s} {t * 1e6:12.1f} us")
        return

    before, after = args.compare
    runs = {before: [], after: []}
    t_start = time.time()
    for r in range(args.rounds):
        for path in ((before, after) if r % 2 == 0 else (after, before)):
            res = run_copy(path, args.repeats, args.only)
            src = res.pop("_kllib")
            if r == 0:
                print(f"# {path}: kllib from {src}", file=sys.stderr)
            runs[path].append(res)
    names = list(runs[before][0])
    print(f"Median over {args.rounds} interleaved processes of the per-call minimum over {args.repeats} repeats; "
          f"one thread; {time.time() - t_start:.0f} s; load average {os.getloadavg()[0]:.1f}.\n")
    print("| case | before (us) | after (us) | after / before |")
    print("|---|---:|---:|---:|")
    for name in names:
        b = statistics.median(x[name] for x in runs[before])
        a = statistics.median(x[name] for x in runs[after])
        print(f"| {name} | {b * 1e6:,.1f} | {a * 1e6:,.1f} | {a / b:.2f} |")


if __name__ == "__main__":
    main()
