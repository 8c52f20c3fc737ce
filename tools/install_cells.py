#!/usr/bin/env python3
"""Write each chapter's hidden install cell (the first code cell, tag ``remove-cell``) from one place.

    python tools/install_cells.py book/ppo.ipynb [...]      # rewrite those notebooks' install cells in place
    python tools/install_cells.py --check book/*.ipynb      # exit 1 if any install cell is not what it should be

The repository URL comes from ``_config.yml`` (``repository: url:``), the only place it is written. The extras
come from what the chapter imports (pyproject.toml's ``[project.optional-dependencies]``):
``torch`` (torch, or a kllib module built on it), ``rl`` (gymnasium, kllib.rl), ``sklearn`` (scikit-learn,
kllib.vae's data). The cell installs only when an import fails, and never reinstalls torch: the extras give
torch a lower bound only, so Colab's preinstalled torch is kept.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
MARKER = "# Written by tools/install_cells.py"
TORCH_MODULES = ("kllib.gan", "kllib.rlhf", "kllib.vae", "kllib.vocab", "kllib.dpo", "kllib.distill", "kllib.rl")
IMPORT = re.compile(r"^\s*(?:from|import)\s+([\w.]+)", re.M)


def repository_url(config: Path = ROOT / "_config.yml") -> str:
    return yaml.safe_load(config.read_text(encoding="utf-8"))["repository"]["url"].rstrip("/")


def _source(cell: dict) -> str:
    s = cell.get("source", "")
    return "".join(s) if isinstance(s, list) else s


def install_index(nb: dict) -> int | None:
    """Index of the install cell: the first code cell, when it is tagged remove-cell."""
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code":
            return i if "remove-cell" in cell.get("metadata", {}).get("tags", []) else None
    return None


def needs(nb: dict) -> tuple[list[str], list[str]]:
    """(extras, modules to try importing) for a chapter, from the imports of its code cells."""
    skip = install_index(nb)
    mods = set()
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code" and i != skip:
            mods.update(IMPORT.findall(_source(cell)))
    top = {m.split(".")[0] for m in mods}
    extras, probe = [], ["kllib"]
    rl = "gymnasium" in top or any(m == "kllib.rl" or m.startswith("kllib.rl.") for m in mods)
    sk = "sklearn" in top or any(m.startswith("kllib.vae") for m in mods)
    torch = "torch" in top or any(m == t or m.startswith(t + ".") for m in mods for t in TORCH_MODULES)
    if rl:
        extras.append("rl")
        probe += ["torch", "gymnasium"]
    elif torch:
        extras.append("torch")
        probe.append("torch")
    if sk:
        extras.append("sklearn")
        probe.append("sklearn")
    return extras, probe


def install_source(nb: dict, url: str) -> str:
    extras, probe = needs(nb)
    spec = f"kllib[{','.join(extras)}]" if extras else "kllib"
    return (
        "# Colab / Binder: install what this chapter needs when it is missing (a preinstalled torch is kept).\n"
        f"{MARKER} from _config.yml's repository url: edit that, not this cell.\n"
        "try:\n"
        f"    import {', '.join(probe)}\n"
        "except ImportError:\n"
        f'    %pip install --quiet "{spec} @ git+{url}"'
    )


def apply(nb: dict, url: str) -> dict:
    idx = install_index(nb)
    text = install_source(nb, url)
    if idx is None:
        cell = {"cell_type": "code", "execution_count": None, "id": "install", "metadata": {"tags": ["remove-cell"]},
                "outputs": [], "source": text}
        nb["cells"].insert(0, cell)
    else:
        cell = nb["cells"][idx]
        cell["source"] = text.splitlines(keepends=True) if isinstance(cell.get("source"), list) else text
    return nb


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("notebooks", nargs="+")
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args(argv)
    url = repository_url()
    stale = []
    for p in map(Path, args.notebooks):
        before = p.read_text(encoding="utf-8")
        after = json.dumps(apply(json.loads(before), url), indent=1, ensure_ascii=False) + "\n"
        if after != before:
            stale.append(p)
            if not args.check:
                p.write_text(after, encoding="utf-8")
    for p in stale:
        print(f"{p}: install cell {'is stale' if args.check else 'written'}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
