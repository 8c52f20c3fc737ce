#!/usr/bin/env python3
"""Lay out the student edition of the whole book as a Jupyter Book project, for the student PDF.

    python tools/student_book.py [--executed _build/jupyter_execute] [--out _build/student-book]
    jupyter-book build _build/student-book --builder pdflatex     (make pdf-student does both)

The student notebooks come from ``tools/make_student.py`` (solutions replaced by stubs that raise, solution
dropdowns removed), run as a tool on the *executed* chapters that a build of the book leaves in
``_build/jupyter_execute`` (``make pdf`` or ``make book``). A stubbed notebook cannot run, so the student book is
not executed: every cell whose code the student edition keeps as it is gets back the output it had in the
executed book (figures, numbers); a stubbed cell and a check cell (which would fail until the student writes
their code) get no output. The markdown pages lose their ``{solution}`` dropdowns the same way.

The copy's ``_config.yml`` turns execution off, calls the book "... (student edition)" and writes
``book-student.tex``. Nothing under ``book/`` is modified.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
from make_student import STUB_TAG, remove_solution_directives  # noqa: E402

COPY = ["_toc.yml", "references.bib", "_ext", "_static"]


def restore_outputs(student: nbformat.NotebookNode, executed: nbformat.NotebookNode) -> int:
    """Give each unchanged, non-stub cell of ``student`` the outputs of the same cell (by id) in ``executed``."""
    by_id = {c.get("id"): c for c in executed.cells if c.cell_type == "code"}
    restored = 0
    for cell in student.cells:
        if cell.cell_type != "code" or STUB_TAG in cell.metadata.get("tags", []):
            continue
        done = by_id.get(cell.get("id"))
        if done is not None and done.source == cell.source:
            cell.outputs, cell.execution_count = done.outputs, done.get("execution_count")
            restored += 1
    return restored


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--executed", default=str(ROOT / "_build" / "jupyter_execute"),
                    help="executed book from a build (default _build/jupyter_execute)")
    ap.add_argument("--out", default=str(ROOT / "_build" / "student-book"), help="output folder")
    args = ap.parse_args(argv)
    executed, out = Path(args.executed).resolve(), Path(args.out).resolve()
    if ROOT.resolve() / "book" in [out, *out.parents] or out == ROOT.resolve():
        print(f"refusing to write into {out}", file=sys.stderr)
        return 2
    chapters = sorted((ROOT / "book").glob("*.ipynb"))
    missing = [p.name for p in chapters if not (executed / "book" / p.name).exists()]
    if missing:
        print(f"no executed notebooks for {', '.join(missing)} in {executed}: build the book first (make pdf)",
              file=sys.stderr)
        return 1
    if out.exists():
        shutil.rmtree(out)
    (out / "book").mkdir(parents=True)
    for name in COPY:
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, out / name)

    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    config["title"] = f"{config['title']} (student edition)"
    config.setdefault("execute", {})["execute_notebooks"] = "off"
    config.setdefault("latex", {}).setdefault("latex_documents", {})["targetname"] = "book-student.tex"
    (out / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True), encoding="utf-8")

    # Pages other than the chapters: the same, without solution dropdowns.
    for page in sorted((ROOT / "book").iterdir()):
        if page.suffix == ".ipynb" or page.is_dir():
            continue
        text = page.read_text(encoding="utf-8") if page.suffix == ".md" else None
        if text is not None and "{solution" in text:
            (out / "book" / page.name).write_text(remove_solution_directives(text) + "\n", encoding="utf-8")
        else:
            shutil.copy2(page, out / "book" / page.name)

    # The chapters: make_student.py on the executed notebooks, then their outputs back where the code is unchanged.
    subprocess.run([sys.executable, str(ROOT / "tools" / "make_student.py"), "--out", str(out / "book"),
                    *[str(executed / "book" / p.name) for p in chapters]], check=True, stdout=subprocess.DEVNULL)
    for path in chapters:
        student = nbformat.read(out / "book" / path.name, as_version=4)
        done = nbformat.read(executed / "book" / path.name, as_version=4)
        n = restore_outputs(student, done)
        nbformat.write(student, out / "book" / path.name)
        print(f"{path.name:<28} outputs of {n} cells")
    print(f"Student book in {out}: jupyter-book build {out} --builder pdflatex")
    return 0


if __name__ == "__main__":
    sys.exit(main())
