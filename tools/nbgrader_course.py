#!/usr/bin/env python3
"""Write the book's chapters as an nbgrader course: ``make nbgrader``.

    python tools/nbgrader_course.py --out _build/nbgrader [--chapters definitions gaussians ...]

Writes ``<out>/nbgrader_config.py`` and ``<out>/source/<chapter>/<chapter>.ipynb`` for every chapter
(book/*.ipynb, or the ones named), each with

- the nbgrader metadata of tools/nbgrader_metadata.py (answer cells, check cells with points, guarded check
  cells), applied here too, so the course is right even for a notebook that has not been annotated yet;
- the markdown ``{solution}`` dropdowns and the ``{solution-start}`` / ``{solution-end}`` cells removed (the
  answer cells stay, with their ``### BEGIN SOLUTION`` regions for nbgrader to stub);
- outputs cleared.

Then, in ``<out>``:  ``nbgrader generate_assignment <chapter>`` and, on submissions,
``nbgrader autograde <chapter>`` and ``nbgrader generate_feedback <chapter>`` (book/instructor_guide.md).
The sources in book/ are never modified.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
from make_student import remove_solution_directives  # noqa: E402
from nbgrader_metadata import annotate, dump, source  # noqa: E402

CONFIG = '''\
# nbgrader configuration of the course "KL divergence, by running it" (written by tools/nbgrader_course.py).
# Run nbgrader from this folder: nbgrader generate_assignment <chapter>; nbgrader autograde <chapter>; ...
# The grading environment needs kllib installed at the version the notebooks were written for (it is imported
# by every check cell); nothing is downloaded at grading time.
c = get_config()
c.CourseDirectory.course_id = "kl-book"
c.CourseDirectory.db_assignments = {assignments!r}
# A chapter trains small models (VAE, GAN, PPO): allow each cell up to 5 minutes, and grade with one thread.
c.Execute.timeout = 300
c.Execute.interrupt_on_timeout = True
c.ClearSolutions.code_stub = {{"python": "# YOUR CODE HERE\\nraise NotImplementedError()"}}
c.ClearSolutions.enforce_metadata = True
'''


def course_notebook(nb: dict) -> dict:
    nb = annotate(nb)
    cells = []
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown" and "{solution" in source(cell):
            text = remove_solution_directives(source(cell))
            if not text.strip():
                continue
            cell["source"] = text
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
        cells.append(cell)
    nb["cells"] = cells
    return nb


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "_build" / "nbgrader"))
    ap.add_argument("--chapters", nargs="*", help="chapter names (default: every book/*.ipynb)")
    ap.add_argument("--book", default=str(ROOT / "book"), help="where the chapter notebooks are (default book/)")
    args = ap.parse_args(argv)
    out, book = Path(args.out).resolve(), Path(args.book).resolve()
    if out == book or book in out.parents or out == ROOT.resolve():
        print(f"refusing to write the course into {out}: use _build/nbgrader", file=sys.stderr)
        return 2
    paths = [book / f"{c}.ipynb" for c in args.chapters] if args.chapters else sorted(book.glob("*.ipynb"))
    names = []
    for path in paths:
        nb = course_notebook(json.loads(path.read_text(encoding="utf-8")))
        target = out / "source" / path.stem / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(dump(nb), encoding="utf-8")
        graded = [c["metadata"]["nbgrader"] for c in nb["cells"] if c.get("metadata", {}).get("nbgrader", {}).get("grade")]
        names.append(path.stem)
        print(f"{path.stem:<26} {len(graded)} graded cell(s), {sum(g['points'] for g in graded):g} points")
    (out / "nbgrader_config.py").write_text(
        CONFIG.format(assignments=[{"name": n} for n in names]), encoding="utf-8")
    print(f"nbgrader course: {len(paths)} assignments in {out}/source; then cd {out} && nbgrader generate_assignment <chapter>")
    return 0


if __name__ == "__main__":
    sys.exit(main())
