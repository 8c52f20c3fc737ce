#!/usr/bin/env python3
"""Give every coding exercise of a chapter notebook its nbgrader metadata and the guarded check-cell form.

    python tools/nbgrader_metadata.py book/definitions.ipynb [...]     # rewrite those notebooks in place
    python tools/nbgrader_metadata.py --check book/*.ipynb             # exit 1 if any would change (CI)
    python tools/nbgrader_metadata.py --table book/*.ipynb             # print the points table (markdown)

A coding exercise is, as CONTRIBUTING.md lays it out: a ``{solution-start} <label>`` markdown cell, the answer
code cell(s) holding ``### BEGIN SOLUTION`` / ``### END SOLUTION``, a ``{solution-end}`` markdown cell, then the
check cell, the first code cell after it that calls a check from ``kllib.checks``. This tool makes

- each answer cell an nbgrader "autograded answer": ``solution: true, grade: false, locked: false``,
  ``grade_id: <label>-answer`` (``-answer-2``, ... when an exercise has several answer cells);
- each check cell an nbgrader "autograder tests" cell: ``grade: true, solution: false, locked: true``,
  ``grade_id: <label>-check`` and ``points`` (kept when already set, else ``DEFAULT_POINTS``);
- each check cell import its check itself, ``from kllib.checks import X`` then ``X(answer)``, so a name
  rebound by an answer cell cannot stand in for the check (kllib.checks refuses assignments to its modules).

Code cells with solution markers outside a solution-start/end block still become answer cells (grade_id from
the cell id). Everything else is left as it is; the tool is idempotent and keeps cell ids.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
DEFAULT_POINTS = 5
SCHEMA = 3
START = re.compile(r"^\s*(`{3,}|:{3,})\{solution-start\}\s*(?P<label>\S+)", re.M)
END_CELL = re.compile(r"^\s*(`{3,}|:{3,})\{solution-end\}", re.M)
# checks.kl_bits_exercise(kl_bits)   or   kllib.checks.kl_bits_exercise(kl_bits)
OLD_CALL = re.compile(r"^(?P<indent>[ \t]*)(?:kllib\.)?checks\.(?P<check>\w+)\((?P<args>.*)\)\s*$")
IMPORT_LINE = "from kllib.checks import {check}  # imported here, so nothing defined above can stand in for the check"
NEW_IMPORT = re.compile(r"^from kllib\.checks import (?P<check>\w+)\b")
GRADE_ID = re.compile(r"^[A-Za-z0-9_\-]+$")


def source(cell: dict) -> str:
    s = cell.get("source", "")
    return "".join(s) if isinstance(s, list) else s


def set_source(cell: dict, text: str) -> None:
    cell["source"] = text.splitlines(keepends=True) if isinstance(cell.get("source"), list) else text


def is_answer(cell: dict) -> bool:
    return cell["cell_type"] == "code" and BEGIN in source(cell)


def calls_check(cell: dict) -> bool:
    if cell["cell_type"] != "code":
        return False
    s = source(cell)
    return any(OLD_CALL.match(line) for line in s.splitlines()) or NEW_IMPORT.search(s) is not None \
        or bool(re.search(r"^from kllib\.checks import \w+", s, re.M))


def guarded_check_source(text: str) -> str:
    """``checks.X(fn)`` lines become ``from kllib.checks import X`` + ``X(fn)``; already-guarded text is kept."""
    lines, out = text.splitlines(), []
    imported = {m.group("check") for m in (NEW_IMPORT.match(l) for l in lines) if m}
    for line in lines:
        m = OLD_CALL.match(line)
        if m and m.group("check")[0].isalpha():
            check, indent = m.group("check"), m.group("indent")
            if check not in imported:
                out.append(indent + IMPORT_LINE.format(check=check))
                imported.add(check)
            out.append(f"{indent}{check}({m.group('args')})")
        elif line.strip() in ("from kllib import checks", "import kllib.checks as checks"):
            continue  # the check cell imports the check itself now
        else:
            out.append(line)
    return "\n".join(out)


def exercises(cells: list[dict]) -> list[dict]:
    """The coding exercises of a notebook: label, indices of the answer cells, index of the check cell."""
    found, i = [], 0
    while i < len(cells):
        c = cells[i]
        m = START.search(source(c)) if c["cell_type"] == "markdown" else None
        if not m:
            i += 1
            continue
        label, answers, j = m.group("label"), [], i + 1
        while j < len(cells) and not (cells[j]["cell_type"] == "markdown" and END_CELL.search(source(cells[j]))):
            if is_answer(cells[j]):
                answers.append(j)
            j += 1
        check = None
        k = j + 1
        while k < len(cells):
            if cells[k]["cell_type"] == "markdown" and START.search(source(cells[k])):
                break
            if calls_check(cells[k]):
                check = k
                break
            k += 1
        found.append({"label": label, "answers": answers, "check": check, "start": i, "end": j})
        i = j + 1
    return found


def grade_id(label: str) -> str:
    gid = re.sub(r"[^A-Za-z0-9_\-]", "-", label)
    return gid


def answer_meta(gid: str) -> dict:
    return {"grade": False, "grade_id": gid, "locked": False, "schema_version": SCHEMA, "solution": True,
            "task": False}


def check_meta(gid: str, points: float) -> dict:
    return {"grade": True, "grade_id": gid, "locked": True, "points": points, "schema_version": SCHEMA,
            "solution": False, "task": False}


def annotate(nb: dict, default_points: float = DEFAULT_POINTS) -> dict:
    """Add the metadata and the guarded check form to ``nb`` (a notebook as a JSON dict), in place."""
    cells = nb["cells"]
    in_exercise = set()
    for ex in exercises(cells):
        gid = grade_id(ex["label"])
        for n, idx in enumerate(ex["answers"]):
            in_exercise.add(idx)
            cells[idx].setdefault("metadata", {})["nbgrader"] = answer_meta(f"{gid}-answer" + (f"-{n + 1}" if n else ""))
        if ex["check"] is not None and ex["answers"]:
            cell = cells[ex["check"]]
            old = cell.get("metadata", {}).get("nbgrader", {})
            points = old.get("points", default_points) if old.get("grade") else default_points
            cell.setdefault("metadata", {})["nbgrader"] = check_meta(f"{gid}-check", points)
            new = guarded_check_source(source(cell))
            if new != source(cell):
                set_source(cell, new)
    for idx, cell in enumerate(cells):
        if is_answer(cell) and idx not in in_exercise:
            cid = cell.get("id") or f"cell-{idx}"
            cell.setdefault("metadata", {})["nbgrader"] = answer_meta(grade_id(f"answer-{cid}"))
    return nb


def points_table(paths: list[Path]) -> list[tuple[str, str, str, float]]:
    """(chapter, exercise label, grade_id of the check cell, points) for every graded cell."""
    rows = []
    for path in paths:
        nb = annotate(json.loads(path.read_text(encoding="utf-8")))  # as this tool writes it (set points are kept)
        for ex in exercises(nb["cells"]):
            if ex["check"] is None:
                continue
            meta = nb["cells"][ex["check"]].get("metadata", {}).get("nbgrader", {})
            if meta.get("grade"):
                rows.append((path.stem, ex["label"], meta["grade_id"], meta.get("points", 0)))
    return rows


def markdown_table(rows: list[tuple[str, str, str, float]]) -> str:
    out = ["| chapter | exercise | grade_id | points |", "|---|---|---|---|"]
    total = 0
    for chapter, label, gid, points in rows:
        p = int(points) if float(points).is_integer() else points
        out.append(f"| {chapter} | {label} | `{gid}` | {p} |")
        total += points
    return "\n".join(out)


def dump(nb: dict) -> str:
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("notebooks", nargs="+")
    ap.add_argument("--check", action="store_true", help="report notebooks that would change; write nothing")
    ap.add_argument("--table", action="store_true", help="print the points table in markdown; write nothing")
    ap.add_argument("--points", type=float, default=DEFAULT_POINTS, help="points of a check cell that has none")
    args = ap.parse_args(argv)
    paths = [Path(p) for p in args.notebooks]
    if args.table:
        print(markdown_table(points_table(paths)))
        return 0
    stale = []
    for path in paths:
        before = path.read_text(encoding="utf-8")
        after = dump(annotate(json.loads(before), args.points))
        if after != before:
            stale.append(path)
            if not args.check:
                path.write_text(after, encoding="utf-8")
    for path in stale:
        print(f"{path}: {'needs' if args.check else 'wrote'} nbgrader metadata / guarded check cells")
    return 1 if (args.check and stale) else 0


if __name__ == "__main__":
    sys.exit(main())
