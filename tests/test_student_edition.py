"""The student edition: `make student` (tools/make_student.py).

Unit tests of the transformation, then every chapter's student notebook executed: it must run up to its
stubs, and every error must come from a stub or from a check that says the exercise is not written yet.
"""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("make_student", ROOT / "tools" / "make_student.py")
make_student = importlib.util.module_from_spec(spec)
spec.loader.exec_module(make_student)

CHAPTERS = sorted((ROOT / "book").glob("*.ipynb"))


def test_solution_region_becomes_a_stub_at_its_indentation():
    src = "def my_kl(p, q):\n    \"\"\"doc\"\"\"\n    ### BEGIN SOLUTION\n    return 0.0\n    ### END SOLUTION\n\nx = 1"
    out, stubbed, top = make_student.stub_code(src)
    assert stubbed and not top
    assert out == "def my_kl(p, q):\n    \"\"\"doc\"\"\"\n    # YOUR CODE HERE\n    raise NotImplementedError()\n\nx = 1"
    compile(out, "<stub>", "exec")


def test_top_level_stub_is_flagged():
    out, stubbed, top = make_student.stub_code("### BEGIN SOLUTION\nanswer = 42\n### END SOLUTION")
    assert stubbed and top and "answer" not in out


def test_unbalanced_markers_are_an_error():
    with pytest.raises(ValueError, match="without"):
        make_student.stub_code("x = 1\n### END SOLUTION")
    with pytest.raises(ValueError, match="without"):
        make_student.stub_code("### BEGIN SOLUTION\nx = 1")


def test_solution_directives_are_removed_and_exercises_kept():
    md = ("```{exercise} Derive it\n:label: ex-a\n\nShow that KL >= 0.\n```\n\n"
          "```{solution} ex-a\n:class: dropdown\n\nBy Jensen.\n```\n\nAfter.")
    out = make_student.remove_solution_directives(md)
    assert "{exercise}" in out and "Show that" in out and "After." in out
    assert "{solution" not in out and "Jensen" not in out
    assert make_student.remove_solution_directives("```{solution-start} ex-b\n:class: dropdown\n```") == ""
    assert make_student.remove_solution_directives(":::{solution} ex-c\nhidden\n:::\nkept") == "kept"


def test_refuses_to_write_into_book(tmp_path):
    for target in (ROOT / "book", ROOT / "book" / "sub", ROOT):
        proc = subprocess.run([sys.executable, str(ROOT / "tools" / "make_student.py"), "--out", str(target)],
                              capture_output=True, text=True)
        assert proc.returncode == 2 and "refusing" in proc.stderr


@pytest.fixture(scope="module")
def student_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("student")
    before = {p: p.read_bytes() for p in CHAPTERS}
    assert make_student.main(["--out", str(out)]) == 0
    assert {p: p.read_bytes() for p in CHAPTERS} == before, "make_student modified the sources"
    return out


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_student_notebook_has_stubs_and_no_solutions(student_dir, chapter):
    nb = nbformat.read(student_dir / chapter.name, as_version=4)
    text = json.dumps([c.source for c in nb.cells])
    assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text
    assert not any("{solution" in c.source for c in nb.cells if c.cell_type == "markdown"), "a solution dropdown survived"
    stubs = sum("raise NotImplementedError()" in c.source for c in nb.cells if c.cell_type == "code")
    assert stubs >= 1, f"{chapter.name}: no coding exercise with ### BEGIN SOLUTION markers"
    exercises = sum(c.source.count("{exercise}") for c in nb.cells if c.cell_type == "markdown")
    assert exercises >= 3, f"{chapter.name}: {exercises} exercises, the book promises at least three"


@pytest.mark.slow
@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_student_notebook_runs_up_to_its_stubs(student_dir, chapter):
    from nbclient import NotebookClient

    nb = nbformat.read(student_dir / chapter.name, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(ROOT / "book")}}).execute()
    unexpected, check_failures = [], 0
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        errors = [o for o in cell.outputs if o.output_type == "error"]
        tagged = make_student.STUB_TAG in cell.metadata.get("tags", [])
        for err in errors:
            clear = err.ename == "NotImplementedError" or (err.ename == "CheckError" and "not written yet" in err.evalue)
            if not (tagged and clear):
                unexpected.append(f"cell {i}: {err.ename}: {err.evalue[:200]}")
        if tagged and make_student.is_check_cell(cell):
            assert errors, f"{chapter.name} cell {i}: a check passed on a stub; it cannot fail, so it checks nothing"
            check_failures += 1
    assert not unexpected, f"{chapter.name}: unexpected errors in the student edition:\n" + "\n".join(unexpected)
    assert check_failures >= 1, f"{chapter.name}: no self-graded check ran against a stub"


def test_check_cells_are_recognised_in_both_forms():
    new = nbformat.v4.new_code_cell("from kllib.checks import kl_bits_exercise  # imported here\nkl_bits_exercise(kl_bits)")
    old = nbformat.v4.new_code_cell("checks.kl_bits_exercise(kl_bits)")
    graded = nbformat.v4.new_code_cell("anything()", metadata={"nbgrader": {"grade": True}})
    plain = nbformat.v4.new_code_cell("x = checks_count + 1")
    assert all(make_student.is_check_cell(c) for c in (new, old, graded)) and not make_student.is_check_cell(plain)


def test_nbgrader_metadata_survives_the_student_edition():
    answer = nbformat.v4.new_code_cell("def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION",
                                       metadata={"nbgrader": {"solution": True, "grade": False, "grade_id": "a"}})
    check = nbformat.v4.new_code_cell("from kllib.checks import f_exercise\nf_exercise(f)",
                                      metadata={"nbgrader": {"grade": True, "grade_id": "a-check", "points": 5}})
    nb = nbformat.v4.new_notebook(cells=[answer, check])
    student, stubs = make_student.student_notebook(nb)
    assert stubs == 1
    assert student.cells[0].metadata["nbgrader"]["solution"] is True
    assert student.cells[1].metadata["nbgrader"]["points"] == 5
    assert make_student.STUB_TAG in student.cells[1].metadata["tags"]
