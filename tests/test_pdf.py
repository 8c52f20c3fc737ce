"""The PDF edition (make pdf, make pdf-student): checked with poppler-utils (pdftotext, pdfimages, pdfinfo).

    make test-pdf       (builds both PDFs, then runs this file)

* the PDF exists and has pages;
* every chapter's title (the first heading of each file in _toc.yml) is in its text, and so is the bibliography
  (its heading and the references cited in the book);
* the figures are embedded (pdfimages -list finds at least one image per figure-drawing chapter);
* no unresolved reference: LaTeX prints "??" for a cross-reference or citation it could not resolve.
* the student edition has the same chapters (less the instructors' pages, tools/student_book.py INSTRUCTOR_ONLY),
  its figures, and no solutions (no solution marker, no "Solution to Exercise" block).

The PDFs are ``_build/latex/book.pdf`` and ``_build/student-book/_build/latex/book-student.pdf`` (or the files named
by KL_BOOK_PDF and KL_BOOK_STUDENT_PDF). The tests are skipped when no PDF was built, unless KL_BOOK_REQUIRE_PDF=1
(make test-pdf sets it).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

import sys

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
from student_book import INSTRUCTOR_ONLY  # noqa: E402
BOOK_PDF = Path(os.environ.get("KL_BOOK_PDF", ROOT / "_build" / "latex" / "book.pdf"))
STUDENT_PDF = Path(os.environ.get("KL_BOOK_STUDENT_PDF",
                                  ROOT / "_build" / "student-book" / "_build" / "latex" / "book-student.pdf"))
REQUIRE = os.environ.get("KL_BOOK_REQUIRE_PDF") == "1"


def _need(pdf: Path) -> Path:
    for tool in ("pdftotext", "pdfimages", "pdfinfo"):
        if not shutil.which(tool):
            (pytest.fail if REQUIRE else pytest.skip)(f"{tool} missing: bash tools/ensure_texlive.sh installs poppler-utils")
    if not pdf.exists():
        (pytest.fail if REQUIRE else pytest.skip)(f"no PDF at {pdf}: run make pdf / make pdf-student")
    return pdf


@lru_cache(maxsize=None)
def pdf_text(pdf: Path) -> str:
    return subprocess.run(["pdftotext", "-enc", "UTF-8", str(pdf), "-"], check=True, capture_output=True,
                          text=True).stdout


def _norm(text: str) -> str:
    """Letters and digits only, lower case: layout, hyphenation, ligatures and math do not matter."""
    text = text.replace("\ufb01", "fi").replace("\ufb02", "fl").replace("\ufb00", "ff")
    text = re.sub(r"-\n", "", text)
    return re.sub(r"[^0-9a-z]+", "", text.lower())


def toc_files() -> list[Path]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [ch["file"] for ch in part.get("chapters", [])]
    return [ROOT / f for f in files]


def title_of(stem: Path) -> str:
    """The first level-1 heading of a page (.md or .ipynb)."""
    if stem.with_suffix(".ipynb").exists():
        nb = json.loads(stem.with_suffix(".ipynb").read_text(encoding="utf-8"))
        text = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    else:
        text = stem.with_suffix(".md").read_text(encoding="utf-8")
    m = re.search(r"^# +(.+)$", text, re.MULTILINE)
    assert m, f"{stem}: no title"
    return m.group(1).strip()


def _plain(title: str) -> str:
    """A title as it reads in the PDF: no markup, math as its letters."""
    title = re.sub(r"\$([^$]*)\$", lambda m: re.sub(r"\\[A-Za-z]+", "", m.group(1)), title)
    title = re.sub(r"[*_`]", "", title)
    return re.sub(r"\{[^}]*\}", "", title) if "{" in title and "}" in title else title


@pytest.fixture(params=["book", "student"])
def pdf(request) -> Path:
    return _need(BOOK_PDF if request.param == "book" else STUDENT_PDF)


def test_pdf_has_pages(pdf):
    info = subprocess.run(["pdfinfo", str(pdf)], check=True, capture_output=True, text=True).stdout
    pages = int(re.search(r"^Pages:\s+(\d+)", info, re.MULTILINE).group(1))
    assert pages > 50, f"{pdf.name}: only {pages} pages"


def test_every_chapter_title_is_in_the_pdf(pdf):
    text = _norm(pdf_text(pdf))
    files = [f for f in toc_files()
             if pdf != STUDENT_PDF or f.relative_to(ROOT).as_posix() not in INSTRUCTOR_ONLY]
    missing = [title_of(f) for f in files if _norm(_plain(title_of(f))) not in text]
    assert not missing, f"{pdf.name}: chapter titles not found in its text: {missing}"


def test_bibliography_is_in_the_pdf(pdf):
    raw = pdf_text(pdf)
    text = _norm(raw)
    assert "bibliography" in text or "references" in text
    bib = (ROOT / "references.bib").read_text(encoding="utf-8")
    # the titles of the works the book cites (at least these must be listed in the bibliography)
    titles = re.findall(r"^\s*title\s*=\s*[{\"](.+?)[}\"],?\s*$", bib, re.MULTILINE | re.IGNORECASE)
    found = [t for t in titles if _norm(re.sub(r"[{}\\]", "", t))[:40] in text]
    assert len(found) >= max(3, len(titles) // 2), f"{pdf.name}: few bibliography entries found ({len(found)} of {len(titles)})"


def test_no_unresolved_references(pdf):
    raw = pdf_text(pdf)
    hits = [raw[max(0, m.start() - 60): m.end() + 20].replace("\n", " ") for m in re.finditer(r"\?\?", raw)]
    assert not hits, f"{pdf.name}: unresolved references ('??'):\n  " + "\n  ".join(hits[:15])


def pdf_images(pdf: Path) -> list[str]:
    listing = subprocess.run(["pdfimages", "-list", str(pdf)], check=True, capture_output=True, text=True).stdout
    return [line for line in listing.splitlines()[2:] if line.strip()]


def test_figures_are_embedded(pdf):
    images = pdf_images(pdf)
    n_figure_cells = 0
    for nb in sorted((ROOT / "book").glob("*.ipynb")):
        n_figure_cells += len(re.findall(r"plt\.show\(\)", nb.read_text(encoding="utf-8")))
    assert len(images) >= 0.8 * n_figure_cells, (f"{pdf.name}: {len(images)} images embedded, the chapters show "
                                                 f"{n_figure_cells} figures")


def test_student_pdf_has_no_solutions():
    student = _need(STUDENT_PDF)
    book = _need(BOOK_PDF)
    book_text, text = pdf_text(book), pdf_text(student)
    assert "BEGIN SOLUTION" in book_text and "Solution to Exercise" in book_text, "the book PDF shows no solutions"
    assert "YOUR CODE HERE" in text, "the student PDF shows no stubs"
    leaks = [text[max(0, m.start() - 80): m.end() + 80].replace("\n", " ")
             for m in re.finditer(r"BEGIN SOLUTION|END SOLUTION|Solution to Exercise", text)]
    assert not leaks, "solution text in the student PDF:\n  " + "\n  ".join(leaks[:10])
    assert "student edition" in text.lower()


def test_student_pdf_keeps_the_figures():
    """The student edition takes its figures from the executed book: all but those drawn by stubbed cells."""
    n_book, n_student = len(pdf_images(_need(BOOK_PDF))), len(pdf_images(_need(STUDENT_PDF)))
    assert n_student >= 0.75 * n_book, f"the student PDF embeds {n_student} images, the book {n_book}"
