"""Checks for the exercises of the chapter *Mutual information and data processing*.

The check calls the student's function on joint tables built at run time, compares with
:func:`kllib.mutual_information` (computed now, no stored answers) and, when the answer is
wrong, recognises the usual mistakes: nats instead of bits, ``nan`` from the cells where
``p(x, y) = 0``, the terms not weighted by ``p(x, y)``, the divergence taken the wrong way round, or the entropies combined with the
wrong signs. Usage in the chapter::

    from kllib.checks import mi_bits_exercise
    mi_bits_exercise(mi_bits)

Example
-------
>>> from kllib.checks.mutual_information import mi_bits_exercise
>>> def mi_bits(joint):
...     raise NotImplementedError()
>>> mi_bits_exercise(mi_bits)
Traceback (most recent call last):
...
kllib.checks._core.CheckError: your mi_bits is not written yet: replace `raise NotImplementedError()` with your code.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from kllib.checks._core import Checker
from kllib.checks.definitions import _as_float, _name_mistake, _require_function, _returned

__all__ = ["mi_bits_exercise"]


def _h(p, log):
    p = np.asarray(p, dtype=float).ravel()
    with np.errstate(all="ignore"):
        return -float(np.sum(np.where(p > 0, p * log(np.where(p > 0, p, 1.0)), 0.0)))


def _terms(j, px, py, log):
    with np.errstate(all="ignore"):
        return j * (log(j) - log(np.outer(px, py)))


def _masked_sum(j, t):
    return float(np.sum(np.where(j > 0, t, 0.0)))


_MI_MISTAKES = {
    "(it looks like nats: mutual information in bits uses log base 2 (np.log2), or divide the nats by ln 2)":
        lambda j: _masked_sum(j, _terms(j, j.sum(1), j.sum(0), np.log)),
    "(it looks like base-10 logarithms: use np.log2)":
        lambda j: _masked_sum(j, _terms(j, j.sum(1), j.sum(0), np.log10)),
    "(it looks like KL(p(x)p(y) || p(x, y)), the divergence the wrong way round: the expectation is over the joint, "
    "I = Σ p(x, y)·log2(p(x, y) / (p(x) p(y))))":
        lambda j: float(np.sum(np.outer(j.sum(1), j.sum(0)) * (np.log2(np.outer(j.sum(1), j.sum(0))) - np.log2(j)))),
    "(each term must be weighted by p(x, y): I = Σ p(x, y)·log2(p(x, y) / (p(x) p(y))), not Σ log2(...))":
        lambda j: float(np.sum(np.log2(j) - np.log2(np.outer(j.sum(1), j.sum(0))))),
    "(the entropies are combined with the wrong signs: I = H(X) + H(Y) − H(X, Y))":
        lambda j: _h(j.sum(1), np.log2) + _h(j.sum(0), np.log2) + _h(j, np.log2),
    "(the sign is flipped: I = H(X) + H(Y) − H(X, Y) is never negative)":
        lambda j: -(_h(j.sum(1), np.log2) + _h(j.sum(0), np.log2) - _h(j, np.log2)),
    "(that is the joint entropy H(X, Y); the mutual information subtracts it from H(X) + H(Y))":
        lambda j: _h(j, np.log2),
}


def mi_bits_exercise(fn: Callable) -> None:
    """Check ``fn(joint)`` = the mutual information I(X; Y) in **bits** of a 2-D joint table.

    ``joint[i, j]`` is p(x_i, y_j) (rows X, columns Y, summing to 1), a NumPy array that may
    contain zeros and need not be square. Compared with ``kllib.mutual_information(joint, base=2)``
    computed at run time; raises :class:`~kllib.checks.CheckError` naming the first mistake it
    recognises.
    """
    from kllib import mutual_information

    c = Checker("your mi_bits")
    _require_function(c, fn, "mi_bits", "mi_bits(joint)")
    rng = np.random.default_rng(20260413)

    def expect(j):
        return float(mutual_information(j, base=2))

    def table(nx, ny, zeros=0.0):
        t = rng.dirichlet(np.full(nx * ny, 0.8)).reshape(nx, ny)
        t[rng.random((nx, ny)) < zeros] = 0.0
        t[0, 0] += 0.05
        return t / t.sum()

    bsc = 0.5 * np.array([[0.9, 0.1], [0.1, 0.9]])
    wide, tall = table(2, 5), table(4, 3)
    probes = [(wide,), (tall,), (table(3, 3),)]
    cases = [
        (np.outer([0.3, 0.7], [0.2, 0.5, 0.3]), "for independent X and Y (a product table; it should be 0)"),
        (bsc, "for a binary symmetric channel with crossover 0.1 and a uniform input (it should be 1 − h(0.1) ≈ 0.531)"),
        (np.diag([0.5, 0.25, 0.25]), "when Y = X (a diagonal table: I = H(X) = 1.5 bits), which has zeros off the diagonal"),
        (wide, "for a 2 × 5 table (rows X, columns Y)"),
        (tall, "for a 4 × 3 table"),
        (table(5, 4, zeros=0.3), "for a 5 × 4 table with some cells exactly 0"),
    ]
    for j, context in cases:
        got = c.call(fn, j.copy())
        g = _returned(c, got, context)
        hint = ""
        if g.size == 1 and np.isnan(g).all():
            hint = ("Cells with p(x, y) = 0 contribute 0 (0·log 0 = 0): skip them, e.g. with a mask joint > 0, "
                    "instead of computing 0 * log(0) = nan.")
        elif not np.allclose(g, expect(j), rtol=1e-6, atol=1e-9):
            hint = _name_mistake(fn, [(j,), *probes], _MI_MISTAKES)
        c.close(got, expect(j), context, hint=hint)

    # The same table transposed: I(X; Y) = I(Y; X).
    got = c.call(fn, tall.T.copy())
    c.close(got, expect(tall), "for the transposed 4 × 3 table (mutual information is symmetric)",
            hint="Transposing swaps the roles of X and Y; the answer must not change.")
    c.done()
