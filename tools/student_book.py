#!/usr/bin/env python3
"""Lay out the student edition of the whole book as a Jupyter Book project, for the student PDF.

    python tools/student_book.py [--executed _build/jupyter_execute] [--out _build/student-book]
    jupyter-book build _build/student-book --builder pdflatex     (make pdf-student does both)

The student notebooks come from ``tools/make_student.py`` (solutions replaced by stubs that raise, solution
dropdowns removed), applied to the chapters in ``book/``. A stubbed notebook cannot run, so the student book is
not executed: every cell whose code the student edition keeps as it is gets back the output it had in the
executed book (figures, numbers); a stubbed cell and a check cell (which would fail until the student writes
their code) get no output. The executed book is the build's jupyter-cache (``_build/.jupyter_cache``, the
record of exactly the current source of each chapter), or, for a chapter it holds no record of, the notebook a
build leaves in ``_build/jupyter_execute`` (only if that one has outputs: a build that did not execute writes it
without). A chapter found in neither is an error (build the book first: ``make pdf``), and so is a figure
that does not come back. The markdown pages lose their ``{solution}`` dropdowns the same way, and the pages
for instructors only (the instructor guide, which quotes the solution markers) are left out, with the links
to them.

The copy's ``_config.yml`` turns execution off, calls the book "... (student edition)" and writes
``book-student.tex``. Nothing under ``book/`` is modified.
"""
from __future__ import annotations

import argparse
import re
import shutil
import sys
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
from make_student import STUB_TAG, remove_solution_directives, student_notebook  # noqa: E402

COPY = ["references.bib", "_ext", "_static"]
# Pages for instructors only: not in the student edition (the guide quotes the solution markers).
INSTRUCTOR_ONLY = {"book/instructor_guide"}


def _n_images(nb: nbformat.NotebookNode) -> int:
    return sum(any(k.startswith("image/") for k in o.get("data", {}))
               for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))


def _has_outputs(nb: nbformat.NotebookNode) -> bool:
    return any(c.get("outputs") for c in nb.cells if c.cell_type == "code")


def executed_chapter(source: Path, executed_dir: Path, cache_dir: Path) -> tuple[nbformat.NotebookNode | None, str]:
    """The executed version of a chapter: the jupyter-cache record of its current source, else the build's copy."""
    nb = nbformat.read(source, as_version=4)
    if (cache_dir / "global.db").exists():
        from jupyter_cache import get_cache

        try:
            _, merged = get_cache(str(cache_dir)).merge_match_into_notebook(nb)
            return merged, "jupyter-cache"
        except KeyError:  # no record of this source (code changed since the last build)
            pass
    built = executed_dir / "book" / source.name
    if built.exists():
        done = nbformat.read(built, as_version=4)
        if _has_outputs(done):
            return done, "jupyter_execute"
    return None, ""


def without_links_to(text: str, pages: set[str]) -> str:
    """Drop the paragraphs (lines) of a markdown page that link to a page left out of the edition."""
    names = {p.rsplit("/", 1)[-1] for p in pages}
    pattern = re.compile(r"\]\((?:\./)?(?:%s)(?:\.md|\.ipynb)?(?:#[^)]*)?\)|\{doc\}`[^`]*(?:%s)>?`"
                         % ("|".join(map(re.escape, names)), "|".join(map(re.escape, names))))
    return "\n".join(line for line in text.splitlines() if not pattern.search(line)) + "\n"


# Files outside book/ that a page shows: ```{figure} ../benchmarks/results/x.png, ![..](../x.png), {image} ...
OUTSIDE_FILE = re.compile(r"(?:\{(?:figure|image)\}\s+|\]\()(\.\./[^\s)]+)")


def copy_referenced_files(text: str, page: Path, out: Path) -> None:
    """Copy the files outside ``book/`` that a markdown page includes (figures) to the same place in ``out``."""
    for ref in OUTSIDE_FILE.findall(text):
        src = (page.parent / ref).resolve()
        if src.is_file() and ROOT.resolve() in src.parents:
            dest = out / src.relative_to(ROOT.resolve())
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest)


def student_toc(toc: dict) -> dict:
    for part in toc.get("parts", []):
        part["chapters"] = [ch for ch in part.get("chapters", []) if ch.get("file") not in INSTRUCTOR_ONLY]
    toc["parts"] = [p for p in toc.get("parts", []) if p["chapters"]]
    return toc


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
    ap.add_argument("--cache", default=None,
                    help="the build's jupyter-cache (default: .jupyter_cache beside --executed)")
    ap.add_argument("--out", default=str(ROOT / "_build" / "student-book"), help="output folder")
    args = ap.parse_args(argv)
    executed, out = Path(args.executed).resolve(), Path(args.out).resolve()
    cache = Path(args.cache).resolve() if args.cache else executed.parent / ".jupyter_cache"
    if ROOT.resolve() / "book" in [out, *out.parents] or out == ROOT.resolve():
        print(f"refusing to write into {out}", file=sys.stderr)
        return 2
    chapters = sorted((ROOT / "book").glob("*.ipynb"))
    done = {p.name: executed_chapter(p, executed, cache) for p in chapters}
    missing = [name for name, (nb, _) in done.items() if nb is None]
    if missing:
        print(f"no executed notebooks for {', '.join(missing)} (in {cache} or {executed}): "
              "build the book first (make pdf)", file=sys.stderr)
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
    toc = student_toc(yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8")))
    (out / "_toc.yml").write_text(yaml.safe_dump(toc, sort_keys=False, allow_unicode=True), encoding="utf-8")
    (out / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True), encoding="utf-8")

    # Pages other than the chapters: the same, without solution dropdowns.
    for page in sorted((ROOT / "book").iterdir()):
        if page.suffix == ".ipynb" or page.is_dir() or f"book/{page.stem}" in INSTRUCTOR_ONLY:
            continue
        if page.suffix == ".md":
            text = page.read_text(encoding="utf-8")
            copy_referenced_files(text, page, out)
            new = without_links_to(text, INSTRUCTOR_ONLY)
            if "{solution" in new:
                new = remove_solution_directives(new) + "\n"
            (out / "book" / page.name).write_text(new, encoding="utf-8")
        else:
            shutil.copy2(page, out / "book" / page.name)

    # The chapters: make_student.py's student edition of each, then the executed outputs where the code is unchanged.
    lost = []
    for path in chapters:
        executed_nb, origin = done[path.name]
        student, stubs = student_notebook(nbformat.read(path, as_version=4))
        n = restore_outputs(student, executed_nb)
        figs, figs_book = _n_images(student), _n_images(executed_nb)
        nbformat.write(student, out / "book" / path.name)
        print(f"{path.name:<28} {stubs} stub(s), outputs of {n} cells, {figs} of {figs_book} figures (from {origin})")
        if figs_book and not figs:
            lost.append(path.name)
    if lost:
        print(f"the figures of {', '.join(lost)} did not come back from the executed book", file=sys.stderr)
        return 1
    print(f"Student book in {out}: jupyter-book build {out} --builder pdflatex")
    return 0


if __name__ == "__main__":
    sys.exit(main())
