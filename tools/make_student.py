#!/usr/bin/env python3
"""Write the student edition of every chapter notebook.

    python tools/make_student.py --out _build/student [book/*.ipynb]

For each notebook:
- code between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` (nbgrader's markers) becomes
  ``# YOUR CODE HERE`` followed by ``raise NotImplementedError()``, at the indentation of the markers;
- solution dropdowns are removed: ``{solution}`` directives in markdown cells, and the
  ``{solution-start}`` / ``{solution-end}`` markdown cells that gate a solution (the code cells between
  them stay, stubbed, as the student's workspace);
- cells that will raise until the student writes their code are tagged ``raises-exception`` (nbval then
  expects the error): a cell with a top-level stub, and every cell that calls a ``checks.`` function;
- outputs and execution counts are cleared;
- nbgrader's cell metadata (answer cells, check cells with their points; tools/nbgrader_metadata.py) is kept,
  so a filled-in student edition can be autograded by nbgrader like its own release.

The sources are never modified, and the tool refuses to write into ``book/``.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
STUB_TAG = "raises-exception"
# A MyST directive fence that opens a solution: ```{solution} label, :::{solution}, ```{solution-start} ...
SOLUTION_FENCE = re.compile(r"^(?P<fence>`{3,}|:{3,})\{solution(?P<kind>-start|-end)?\}.*$")


def stub_code(source: str) -> tuple[str, bool, bool]:
    """Replace solution regions; return (new source, whether anything was stubbed, whether a stub is top-level)."""
    out, inside, stubbed, top_level = [], False, False, False
    for line in source.splitlines():
        stripped = line.strip()
        if stripped.startswith(BEGIN):
            if inside:
                raise ValueError("nested ### BEGIN SOLUTION")
            inside, stubbed = True, True
            indent = line[: len(line) - len(line.lstrip())]
            top_level = top_level or indent == ""
            out += [f"{indent}# YOUR CODE HERE", f"{indent}raise NotImplementedError()"]
        elif stripped.startswith(END):
            if not inside:
                raise ValueError("### END SOLUTION without ### BEGIN SOLUTION")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError("### BEGIN SOLUTION without ### END SOLUTION")
    return "\n".join(out), stubbed, top_level


def remove_solution_directives(source: str) -> str:
    """Drop every {solution...} directive (with its body) from a markdown cell."""
    lines, out, i = source.splitlines(), [], 0
    while i < len(lines):
        m = SOLUTION_FENCE.match(lines[i].strip())
        if not m:
            out.append(lines[i])
            i += 1
            continue
        fence = m.group("fence")
        i += 1
        while i < len(lines) and lines[i].strip() != fence:  # skip the body up to the closing fence
            i += 1
        i += 1
    text = "\n".join(out)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def is_check_cell(cell: nbformat.NotebookNode) -> bool:
    """A cell that runs an exercise check: nbgrader test cell, ``from kllib.checks import X``, or ``checks.X(...)``."""
    if cell.get("metadata", {}).get("nbgrader", {}).get("grade"):
        return True
    return re.search(r"\bchecks\.\w+\(|^from kllib\.checks import \w+", cell.source, re.M) is not None


def student_notebook(nb: nbformat.NotebookNode) -> tuple[nbformat.NotebookNode, int]:
    cells, stubs = [], 0
    for cell in nb.cells:
        cell = nbformat.from_dict(dict(cell))
        tags = set(cell.metadata.get("tags", []))
        if cell.cell_type == "markdown":
            if "{solution" in cell.source:
                cell.source = remove_solution_directives(cell.source)
                if not cell.source.strip():
                    continue
        elif cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
            cell.source, stubbed, top_level = stub_code(cell.source)
            stubs += stubbed
            calls_check = is_check_cell(cell)
            if top_level or calls_check:
                tags.add(STUB_TAG)
            if tags:
                cell.metadata["tags"] = sorted(tags)
        cells.append(cell)
    nb = nbformat.from_dict(dict(nb))
    nb.cells = cells
    return nb, stubs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "_build" / "student"), help="output folder (default _build/student)")
    ap.add_argument("notebooks", nargs="*", help="notebooks to convert (default: book/*.ipynb)")
    args = ap.parse_args(argv)
    out = Path(args.out).resolve()
    book = (ROOT / "book").resolve()
    if out == book or book in out.parents or out in book.parents or out == ROOT.resolve():
        print(f"refusing to write the student edition into {out}: it would overwrite the sources; use _build/student",
              file=sys.stderr)
        return 2
    paths = [Path(p) for p in args.notebooks] or sorted(book.glob("*.ipynb"))
    out.mkdir(parents=True, exist_ok=True)
    total = 0
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        student, stubs = student_notebook(nb)
        nbformat.write(student, out / path.name)
        total += stubs
        print(f"{path.name:<28} {stubs} stub(s)")
    print(f"Student edition: {len(paths)} notebooks, {total} stubs, in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
