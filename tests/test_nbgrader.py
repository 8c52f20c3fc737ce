"""The real nbgrader (pinned in requirements-test.txt) on the course `make nbgrader` writes.

For three chapters: generate_assignment, then autograde of the reference solutions (full marks), of the
unchanged release (0 on every coding exercise), of a typical wrong answer (loses exactly that exercise's
points); for the definitions chapter also an answer that delegates to kllib (loses that exercise) and the
`make student` edition filled in with the reference answers (full marks). Then generate_feedback: the
feedback shows the check's message, short and without the checker's source.
Each chapter is its own course (its own gradebook), so pytest-xdist can grade chapters in parallel.
"""
from __future__ import annotations

import html
import json
import os
import re
import shutil
import sys
import time
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import make_student  # noqa: E402
import nbgrader_course  # noqa: E402
from nbgrader_metadata import BEGIN, END, source  # noqa: E402

pytest.importorskip("nbgrader")
CHAPTERS = ["definitions", "gaussians", "estimating_kl"]
TIMES = ROOT / "_build" / "nbgrader-autograde-times.json"


def _api(course: Path):
    from nbgrader.apps import NbGraderAPI
    from traitlets.config import Config

    config = Config()
    exec((course / "nbgrader_config.py").read_text(), {"get_config": lambda: config})  # noqa: S102 - our own file
    config.CourseDirectory.root = str(course)
    config.Execute.timeout = 300
    return NbGraderAPI(config=config)


def _answer_cells(nb: dict) -> list[dict]:
    return [c for c in nb["cells"] if c.get("metadata", {}).get("nbgrader", {}).get("solution")]


def _replace_region(text: str, body: str) -> str:
    """Replace the code between the solution markers with ``body`` (at the markers' indentation)."""
    lines, out, inside = text.splitlines(), [], False
    for line in lines:
        if line.strip().startswith(BEGIN):
            inside = True
            indent = line[: len(line) - len(line.lstrip())]
            out += [indent + b for b in body.splitlines()]
        elif line.strip().startswith(END):
            inside = False
        elif not inside:
            out.append(line)
    return "\n".join(out)


def _wrong(text: str) -> str:
    """A typical wrong answer made from the reference: nats instead of bits, a forgotten -1/2, ..."""
    for good, bad in (("np.log2(", "np.log("), (" - 0.5", ""), ("np.expm1(log_r) - log_r", "-log_r")):
        if good in text:
            return text.replace(good, bad)
    return _replace_region(text, "return 0.123")


def _submit(course: Path, chapter: str, student: str, nb: dict) -> None:
    target = course / "submitted" / student / chapter / f"{chapter}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


@pytest.mark.slow
@pytest.mark.parametrize("chapter", CHAPTERS)
def test_nbgrader_grades_the_chapter(tmp_path, chapter):
    course = tmp_path / "course"
    os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")  # alembic
    assert nbgrader_course.main(["--out", str(course), "--chapters", chapter]) == 0
    api = _api(course)
    result = api.generate_assignment(chapter)
    assert result["success"], result.get("log", "")[-3000:]

    source_nb = json.loads((course / "source" / chapter / f"{chapter}.ipynb").read_text())
    release = json.loads((course / "release" / chapter / f"{chapter}.ipynb").read_text())
    text = json.dumps(release)
    assert "BEGIN SOLUTION" not in text and "{solution" not in text, "the release still shows a solution"
    graded = {c["metadata"]["nbgrader"]["grade_id"]: c["metadata"]["nbgrader"]["points"]
              for c in source_nb["cells"] if c.get("metadata", {}).get("nbgrader", {}).get("grade")}
    total = sum(graded.values())
    assert graded and total > 0

    subs = {"reference": source_nb, "release": release}
    first = _answer_cells(source_nb)[0]
    wrong = json.loads(json.dumps(source_nb))
    cell = _answer_cells(wrong)[0]
    cell["source"] = _wrong(source(cell))
    assert cell["source"] != source(first)
    subs["wrong"] = wrong
    if chapter == "definitions":
        delegate = json.loads(json.dumps(source_nb))
        cell = _answer_cells(delegate)[0]
        cell["source"] = _replace_region(source(cell), "return kl(p, q, base=2)")
        subs["delegate"] = delegate
        student_nb, _ = make_student.student_notebook(nbformat.reads(json.dumps(source_nb), as_version=4))
        answers = {c["id"]: source(c) for c in _answer_cells(source_nb)}
        for c in student_nb.cells:
            if c.get("id") in answers:
                c.source = answers[c["id"]]
        subs["student_edition"] = json.loads(nbformat.writes(student_nb))
    for student, nb in subs.items():
        _submit(course, chapter, student, nb)

    times = {}
    for student in subs:
        t0 = time.perf_counter()
        result = api.autograde(chapter, student)
        times[student] = time.perf_counter() - t0
        assert result["success"], result.get("log", "")[-3000:]

    from nbgrader.api import Gradebook

    first_check = next(c for c in source_nb["cells"] if c.get("metadata", {}).get("nbgrader", {}).get("grade"))
    first_id = first_check["metadata"]["nbgrader"]["grade_id"]
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        score = {s: gb.find_submission(chapter, s).score for s in subs}
        per_cell = {s: {g: gb.find_grade(g, chapter, chapter, s).score for g in graded} for s in subs}
    assert score["reference"] == total, per_cell["reference"]
    assert all(v == 0 for v in per_cell["release"].values()), per_cell["release"]
    assert score["wrong"] == total - graded[first_id], per_cell["wrong"]
    assert per_cell["wrong"][first_id] == 0
    if chapter == "definitions":
        assert score["delegate"] == total - graded[first_id], per_cell["delegate"]
        assert score["student_edition"] == total, per_cell["student_edition"]

    result = api.generate_feedback(chapter, "wrong")
    assert result["success"], result.get("log", "")[-3000:]
    page = (course / "feedback" / "wrong" / chapter / f"{chapter}.html").read_text()
    plain = html.unescape(re.sub(r"<[^>]+>", "", page))
    assert "CheckError: your" in plain, "the feedback does not show the check's message"
    assert "_core.py" not in plain and "def wrapper" not in plain and "Traceback (most recent" not in plain, \
        "the feedback shows the checker's source or a long traceback"

    TIMES.parent.mkdir(exist_ok=True)
    record = json.loads(TIMES.read_text()) if TIMES.exists() else {}
    record[chapter] = {k: round(v, 1) for k, v in times.items()} | {"points": total, "scores": score}
    TIMES.write_text(json.dumps(record, indent=1) + "\n")
    print(f"\n{chapter}: scores {score} of {total}; autograde seconds {record[chapter]}")
    shutil.rmtree(course, ignore_errors=True)
