"""Answers that cannot be faked: kllib.checks' guards (kllib/checks/_core.py).

A check fails an answer that delegates to kllib (the reference it compares with), refuses to grade after
kllib, its checks, NumPy or torch were patched, cannot be replaced from a notebook, and says clearly when
it is handed something that is not a function. Reference answers still pass. Run in fresh interpreters
(subprocesses) where a test patches something, so no patch leaks into other tests.
"""
from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

import kllib
from kllib import checks
from kllib.checks import CheckError


def kl_bits_ok(p, q):
    p, q = np.asarray(p, dtype=float), np.asarray(q, dtype=float)
    s = p > 0
    if np.any(q[s] == 0):
        return np.inf
    return float(np.sum(p[s] * np.log2(p[s] / q[s])))


def test_reference_answer_passes(capsys):
    checks.kl_bits_exercise(kl_bits_ok)
    assert "all" in capsys.readouterr().out


@pytest.mark.parametrize("answer", [
    lambda p, q: kllib.kl(p, q, base=2),
    lambda p, q: float(kllib.discrete.kl(np.asarray(p, float), np.asarray(q, float), base=2)),
    lambda p, q: kllib.kl(p, q) / np.log(2),
], ids=["kllib.kl", "kllib.discrete.kl", "nats-via-kllib"])
def test_delegating_answers_fail(answer):
    with pytest.raises(CheckError, match="from kllib, the library this check compares with"):
        checks.kl_bits_exercise(answer)


def test_delegating_through_a_helper_or_partial_fails():
    import functools

    def helper(p, q):
        return kllib.kl(p, q, base=2)

    def answer(p, q):
        return helper(p, q)

    for fn in (answer, functools.partial(kllib.kl, base=2)):
        with pytest.raises(CheckError, match="kllib"):
            checks.kl_bits_exercise(fn)


def test_delegation_is_caught_in_every_chapter_with_a_kllib_reference():
    import torch

    with pytest.raises(CheckError, match="kllib"):
        checks.k3_exercise(lambda lp, lq: kllib.k3(lp, lq))
    with pytest.raises(CheckError, match="kllib"):
        checks.kl_normal_exercise(lambda mp, sp, mq, sq: kllib.kl_normal(mp, sp, mq, sq))
    from kllib.rl import clipped_surrogate
    with pytest.raises(CheckError, match="kllib"):
        checks.ppo_clip_exercise(lambda r, a, e: clipped_surrogate(r, a, e))
    del torch


@pytest.mark.parametrize("value", [0.35, None, np.array([0.1]), "kl_bits"])
def test_not_a_function_gets_a_clear_message(value):
    with pytest.raises(CheckError, match=r"needs a function, but it was handed a .*def kl_bits\(\.\.\.\)"):
        checks.kl_bits_exercise(value)


def test_check_modules_cannot_be_replaced():
    import kllib.checks.definitions as module

    with pytest.raises(AttributeError, match="cannot be replaced"):
        checks.kl_bits_exercise = lambda fn: None
    with pytest.raises(AttributeError, match="cannot be replaced"):
        module.kl_bits_exercise = lambda fn: None
    with pytest.raises(AttributeError):
        del checks.kl_bits_exercise
    from kllib.checks import kl_bits_exercise
    assert getattr(kl_bits_exercise, "__kllib_guarded__", False)


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300)


PRELUDE = """
import numpy as np
import kllib
from kllib import checks
from kllib.checks import CheckError
def kl_bits_wrong(p, q):
    return 0.0
"""


@pytest.mark.parametrize("patch", [
    "kllib.kl = lambda p, q, base=None: np.float64(0.0)",
    "kllib.discrete.kl = lambda p, q, base=None: np.float64(0.0)",
    "checks.Checker.close = lambda self, *a, **k: None",
    "np.isclose = lambda *a, **k: np.array(True)",
    "np.allclose = lambda *a, **k: True",
], ids=["kllib.kl", "kllib.discrete.kl", "Checker.close", "np.isclose", "np.allclose"])
def test_patching_the_reference_or_the_checker_is_detected(patch):
    proc = _run(PRELUDE + patch + """
try:
    checks.kl_bits_exercise(kl_bits_wrong)
except CheckError as e:
    print("CAUGHT", e)
else:
    print("PASSED")
""")
    assert "CAUGHT" in proc.stdout and "was replaced after the checks were imported" in proc.stdout, proc.stdout + proc.stderr


def test_a_rebound_name_cannot_stand_in_for_the_check():
    # An answer cell that defines its own "check" does not change what the check cell imports.
    proc = _run(PRELUDE + """
kl_bits_exercise = lambda fn: print("all checks passed (fake)")
import types
checks = types.SimpleNamespace(kl_bits_exercise=kl_bits_exercise)
from kllib.checks import kl_bits_exercise   # what the check cell does
try:
    kl_bits_exercise(kl_bits_wrong)
except CheckError as e:
    print("CAUGHT", e)
""")
    assert "CAUGHT your kl_bits" in proc.stdout, proc.stdout + proc.stderr


def test_check_error_renders_without_a_traceback():
    try:
        checks.kl_bits_exercise(lambda p, q: 1 / 0)
    except CheckError as e:
        lines = e._render_traceback_()
    assert lines[0].startswith("CheckError: your")
    assert all(len(line) <= 100 for line in lines)
    assert not any("_core.py" in line for line in lines)
    assert "1 / 0" in lines[-1]  # the line of the student's code that raised
