"""Coursework hygiene: every chapter stays gradable by nbgrader, installable on Colab, and its checks unfakeable.

- every coding exercise has its nbgrader metadata (answer cells, check cells with points and a stable grade_id)
  and a guarded check cell: ``tools/nbgrader_metadata.py --check`` would change nothing;
- the instructor guide's points table is the one the metadata gives (``tools/nbgrader_metadata.py --table``);
- every install cell is the one ``tools/install_cells.py`` writes from ``_config.yml``'s repository url, and the
  launch/repository buttons use that same url;
- pyproject's extras never pin torch and give the lower bounds kllib needs; ``build/`` is ignored;
- no module of kllib.checks holds a worked solution in its docstrings.

To bring the chapters in line:  python tools/nbgrader_metadata.py book/*.ipynb && python tools/install_cells.py book/*.ipynb
"""
from __future__ import annotations

import ast
import json
import re
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import install_cells  # noqa: E402
import nbgrader_metadata as meta  # noqa: E402

CHAPTERS = sorted((ROOT / "book").glob("*.ipynb"))
FIX = "run: python tools/nbgrader_metadata.py book/*.ipynb && python tools/install_cells.py book/*.ipynb"


def _nb(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_exercises_carry_nbgrader_metadata_and_guarded_checks(chapter):
    nb = _nb(chapter)
    exercises = meta.exercises(nb["cells"])
    assert exercises, f"{chapter.name}: no coding exercise ({{solution-start}} ... check cell)"
    for ex in exercises:
        assert ex["answers"], f"{chapter.name}: exercise {ex['label']} has no answer cell with ### BEGIN SOLUTION"
        assert ex["check"] is not None, f"{chapter.name}: exercise {ex['label']} has no check cell after it"
    assert meta.dump(meta.annotate(_nb(chapter))) == chapter.read_text(encoding="utf-8"), \
        f"{chapter.name}: nbgrader metadata or the guarded check-cell form is missing or stale; {FIX}"


def test_grade_ids_are_unique_and_valid():
    seen = {}
    for chapter in CHAPTERS:
        for cell in _nb(chapter)["cells"]:
            m = cell.get("metadata", {}).get("nbgrader")
            if not m:
                continue
            gid = m["grade_id"]
            assert meta.GRADE_ID.match(gid), f"{chapter.name}: grade_id {gid!r} is not [A-Za-z0-9_-]+"
            assert gid not in seen.get(chapter.stem, set()), f"{chapter.name}: duplicate grade_id {gid}"
            seen.setdefault(chapter.stem, set()).add(gid)
            if m.get("grade"):
                assert m["points"] > 0 and m["locked"] and not m["solution"]
            if m.get("solution"):
                assert not m["grade"] and not m["locked"]


def test_instructor_guide_has_the_points_table():
    rows = []
    for chapter in CHAPTERS:  # the metadata as tools/nbgrader_metadata.py writes it (points already set are kept)
        nb = meta.annotate(_nb(chapter))
        for ex in meta.exercises(nb["cells"]):
            m = nb["cells"][ex["check"]]["metadata"]["nbgrader"]
            rows.append((chapter.stem, ex["label"], m["grade_id"], m["points"]))
    table = meta.markdown_table(rows)
    guide = (ROOT / "book" / "instructor_guide.md").read_text(encoding="utf-8")
    assert table in guide, ("book/instructor_guide.md: the points table is stale; paste the output of "
                            "python tools/nbgrader_metadata.py --table book/*.ipynb\n" + table)


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_install_cell_is_generated_from_the_config(chapter):
    nb = _nb(chapter)
    idx = install_cells.install_index(nb)
    assert idx is not None, f"{chapter.name}: the first code cell must be the install cell, tagged remove-cell"
    want = install_cells.install_source(nb, install_cells.repository_url())
    got = install_cells._source(nb["cells"][idx])
    assert got == want, f"{chapter.name}: the install cell is not the generated one; {FIX}\nexpected:\n{want}"
    assert "torch==" not in got and "--upgrade" not in got and "-U " not in got, "an install cell must not reinstall torch"


def test_repository_url_lives_in_one_place():
    cfg = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    url = cfg["repository"]["url"].rstrip("/")
    theme = cfg.get("sphinx", {}).get("config", {}).get("html_theme_options", {})
    if "repository_url" in theme:
        assert theme["repository_url"].rstrip("/") == url, "html_theme_options.repository_url differs from repository.url"
    guide = (ROOT / "book" / "run_it_yourself.md").read_text(encoding="utf-8")
    for found in re.findall(r"git\+(https://[^\s\"']+)", guide):
        assert found.rstrip("/") == url, f"book/run_it_yourself.md installs from {found}, _config.yml says {url}"


def test_extras_declare_what_chapters_need_and_never_pin_torch():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"]
    assert {"torch", "rl", "sklearn", "book"} <= set(extras)
    every = [r for reqs in extras.values() for r in reqs] + project["dependencies"]
    for req in every:
        name = re.split(r"[<>=!~ \[;]", req, maxsplit=1)[0].lower()
        assert "==" not in req, f"pyproject pins {req}: declare lower bounds (requirements.txt pins the course machine)"
        if name == "torch":
            assert re.fullmatch(r"torch>=[\d.]+", req), f"{req}: torch gets a lower bound only (Colab's torch is kept)"
    assert any(r.startswith("gymnasium>=1.1") for r in extras["rl"]), "kllib.rl needs gymnasium.vector.AutoresetMode (1.1)"
    for chapter in CHAPTERS:
        needed, _ = install_cells.needs(_nb(chapter))
        assert set(needed) <= set(extras), f"{chapter.name} needs extras {needed}"


def test_pip_build_folder_is_ignored():
    lines = (ROOT / ".gitignore").read_text().split()
    assert "build/" in lines or "/build/" in lines


CHECK_MODULES = sorted(p for p in (ROOT / "kllib" / "checks").glob("*.py") if not p.name.startswith("_"))
# In a docstring example, a function body may only be a stub or a constant: anything else is a worked solution.
ALLOWED_BODY = re.compile(r"^\s*\.\.\.\s+(raise NotImplementedError\(\).*|return [-+\d.,()\s\[\]]+|pass|#.*)$")


@pytest.mark.parametrize("module", CHECK_MODULES, ids=lambda p: p.stem)
def test_check_docstrings_hold_no_worked_solution(module):
    tree = ast.parse(module.read_text(encoding="utf-8"))
    docs = [ast.get_docstring(tree) or ""] + [ast.get_docstring(n) or "" for n in ast.walk(tree)
                                              if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
    for doc in docs:
        lines = doc.splitlines()
        for i, line in enumerate(lines):
            if not re.match(r"^\s*>>> def ", line):
                continue
            j = i + 1
            while j < len(lines) and re.match(r"^\s*\.\.\.", lines[j]):
                assert ALLOWED_BODY.match(lines[j]) or re.match(r"^\s*\.\.\.\s*$", lines[j]) or \
                    re.match(r'^\s*\.\.\.\s+"""', lines[j]), \
                    f"{module.name}: a docstring example writes out an answer ({lines[j].strip()!r}); show a stub instead"
                j += 1
