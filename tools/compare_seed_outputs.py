"""Check that every chapter's outputs change with KL_BOOK_SEED.

    python tools/compare_seed_outputs.py DIR_SEED_A DIR_SEED_B

Each folder holds the output digests that ``tests/nbval_outputs.py`` wrote during an nbval run under one
seed. Every chapter listed in ``_toc.yml`` must have a digest in both folders, and its outputs (numbers
printed, figures drawn) must differ between the two seeds: a chapter whose outputs are identical under
two seeds is not reading its randomness from ``kllib.book_seed()``.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def chapters() -> list[str]:
    toc = (ROOT / "_toc.yml").read_text()
    names = re.findall(r"file:\s*book/([\w-]+)", toc)
    return [n for n in names if (ROOT / "book" / f"{n}.ipynb").exists()]


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__)
        return 2
    a, b = (Path(x) for x in argv)
    passed, failed = 0, 0
    for name in chapters():
        fa, fb = a / f"{name}.json", b / f"{name}.json"
        if not fa.exists() or not fb.exists():
            print(f"FAILED {name}: no output digest under {fa if not fa.exists() else fb} (did nbval run it?)")
            failed += 1
            continue
        da, db = json.loads(fa.read_text()), json.loads(fb.read_text())
        if da["seed"] == db["seed"]:
            print(f"FAILED {name}: both digests were recorded under seed {da['seed']}")
            failed += 1
        elif da["cells"] == db["cells"]:
            print(f"FAILED {name}: identical outputs under KL_BOOK_SEED={da['seed']} and {db['seed']}: "
                  "take every random draw from kllib.book_seed()")
            failed += 1
        else:
            changed = sum(x != y for x, y in zip(da["cells"], db["cells"]))
            print(f"ok     {name}: {changed} of {len(da['cells'])} cells' outputs change between seeds "
                  f"{da['seed']} and {db['seed']}")
            passed += 1
    print(f"seed-dependence: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
