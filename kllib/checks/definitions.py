"""Checks for the exercises of the chapter *What KL divergence is*.

The check calls the student's function on cases built at run time, compares with
:func:`kllib.kl` (computed now, no stored answers) and, when the answer is wrong,
recognises the usual mistakes (nats instead of bits, the arguments swapped, ``nan`` from
``0·log 0``, a finite answer where Q misses P's support, ...) and says which one.

Example
-------
The check runs on any function with the right signature; an unwritten answer gets a message
that says what to do (the chapter's answer cell holds the reference solution, not this module):

>>> from kllib.checks.definitions import kl_bits_exercise
>>> def kl_bits(p, q):
...     raise NotImplementedError()
>>> kl_bits_exercise(kl_bits)
Traceback (most recent call last):
...
kllib.checks._core.CheckError: your kl_bits is not written yet: replace `raise NotImplementedError()` with your code.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from kllib.checks._core import Checker

__all__ = ["kl_bits_exercise"]


def _as_float(x) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=float)


def _returned(c: Checker, got, context: str, what: str = "a number") -> np.ndarray:
    """The student's return value as a float array, or a CheckError that says what came back instead."""
    if got is None:
        c.fail(f"returns None {context}: did you forget the `return` statement?")
    try:
        return _as_float(got)
    except (TypeError, ValueError):
        c.fail(f"returns {type(got).__name__} {str(got)[:60]!s} {context}; it should return {what}.")


def _require_function(c: Checker, fn, name: str, signature: str) -> None:
    """Fail with a clear message when the check is handed something that is not a function.

    A typical cause: the answer cell raised an error, so ``name`` still refers to an older value
    (a number computed earlier in the chapter) or was never defined as a function.
    """
    if callable(fn):
        return
    shown = str(fn)
    shown = shown if len(shown) <= 40 else shown[:37] + "..."
    c.fail(
        f"was handed {type(fn).__name__} {shown} instead of a function. The check needs the function itself: "
        f"write `def {signature}:` in the answer cell, run that cell without errors, then run this check again "
        f"(pass `{name}`, not `{name}(...)`)."
    )


def _name_mistake(fn: Callable, cases: Sequence[tuple], mistakes: dict) -> str:
    """Return the message of the first typical mistake that reproduces ``fn`` on every case.

    ``cases`` are argument tuples (the failing case first, then probes that tell the mistakes
    apart); ``mistakes`` maps a message to a wrong implementation with the same signature.
    Returns ``""`` when no mistake matches (the student then gets the generic message).
    """
    outs = []
    for args in cases:
        try:
            with np.errstate(all="ignore"):
                outs.append(_as_float(fn(*args)))
        except Exception:  # noqa: BLE001 - a probe that crashes names no mistake
            return ""
    for message, wrong in mistakes.items():
        for args, got in zip(cases, outs):
            with np.errstate(all="ignore"):
                w = _as_float(wrong(*args))
            if got.size != w.size or not np.allclose(got.reshape(w.shape), w, rtol=1e-6, atol=1e-9, equal_nan=True):
                break
        else:
            return message
    return ""


def _plogpq(p, q, log):
    with np.errstate(all="ignore"):
        return np.sum(np.where(p > 0, p * (log(p) - log(q)), 0.0))


_KL_BITS_MISTAKES = {
    "(it looks like nats: KL in bits uses log base 2, np.log2, or divide the nats by ln 2)":
        lambda p, q: _plogpq(p, q, np.log),
    "(it looks like KL(Q || P): the expectation is over P, the first argument, so each term is p·log2(p/q))":
        lambda p, q: _plogpq(q, p, np.log2),
    "(the sign is flipped: KL = Σ p·log2(p/q), not Σ p·log2(q/p); KL is never negative)":
        lambda p, q: -_plogpq(p, q, np.log2),
    "(it looks like base-10 logarithms: use np.log2)":
        lambda p, q: _plogpq(p, q, np.log10),
    "(it looks like the cross-entropy −Σ p·log2 q: subtract the entropy, KL = H(P, Q) − H(P))":
        lambda p, q: _plogpq(p, q, np.log2) - _plogpq(p, np.ones_like(p), np.log2),
    "(each term must be weighted by p: KL = Σ p·log2(p/q), not Σ log2(p/q))":
        lambda p, q: np.sum(np.log2(p) - np.log2(q)),
    "(it looks like KL in nats of the swapped pair: use log base 2 and put P first)":
        lambda p, q: _plogpq(q, p, np.log),
}


def kl_bits_exercise(fn: Callable) -> None:
    """Check ``fn(p, q)`` = KL(P || Q) in **bits** for two 1-D probability vectors.

    The cases include zeros in ``p`` (by convention ``0·log 0 = 0``), zeros in both, and a
    ``q`` that gives probability 0 to an outcome ``p`` can produce (the answer is ``inf``).
    Compared with ``kllib.kl(p, q, base=2)``; raises :class:`~kllib.checks.CheckError`
    naming the first mistake it recognises.
    """
    from kllib import kl

    c = Checker("your kl_bits")
    _require_function(c, fn, "kl_bits", "kl_bits(p, q)")
    rng = np.random.default_rng(20260401)
    a, b = rng.dirichlet(np.ones(5)), rng.dirichlet(np.ones(5))
    probe1 = (np.array([0.7, 0.2, 0.1]), np.array([0.2, 0.3, 0.5]))
    probe2 = (np.array([0.25, 0.25, 0.5]), np.array([0.6, 0.3, 0.1]))
    die = np.full(6, 1 / 6)
    skewed = np.array([0.5, 0.1, 0.1, 0.1, 0.1, 0.1])

    def expect(p, q):
        return float(kl(p, q, base=2))

    # 1. Plain cases without zeros: the formula itself.
    plain = [
        ((die, die), "for a fair die against itself (identical distributions give 0)"),
        ((np.array([0.5, 0.5]), np.array([0.75, 0.25])), "for p = (1/2, 1/2), q = (3/4, 1/4)"),
        ((die, skewed), "for the fair die against q = (1/2, 1/10, ..., 1/10)"),
        ((a, b), f"for p = {np.round(a, 3)}, q = {np.round(b, 3)}"),
        ((b, a), "for the same pair in the other order (KL is not symmetric)"),
    ]
    for (p, q), context in plain:
        got = c.call(fn, p.copy(), q.copy())
        hint = ""
        if not np.allclose(_returned(c, got, context), expect(p, q), rtol=1e-6, atol=1e-9):
            hint = _name_mistake(fn, [(p, q), probe1, probe2], _KL_BITS_MISTAKES)
        c.close(got, expect(p, q), context, hint=hint)

    # 2. Zeros in p: 0·log(0/q) = 0.
    p0, q0 = np.array([0.5, 0.5, 0.0]), np.array([0.25, 0.25, 0.5])
    got = c.call(fn, p0.copy(), q0.copy())
    c.close(got, expect(p0, q0), "when p has a zero, p = (1/2, 1/2, 0), q = (1/4, 1/4, 1/2)",
            hint="By convention 0·log(0/q) = 0: skip the terms where p = 0 (0 * log(0) is nan in floating point).")
    p00, q00 = np.array([0.0, 0.5, 0.5]), np.array([0.0, 0.5, 0.5])
    got = c.call(fn, p00.copy(), q00.copy())
    c.close(got, 0.0, "when p and q are both 0 on an outcome and equal elsewhere (it should be 0)",
            hint="Terms with p = 0 contribute 0 even when q = 0 too (0·log(0/0) = 0 by convention).")

    # 3. q misses p's support: the divergence is +inf.
    pinf, qinf = np.array([0.5, 0.5]), np.array([1.0, 0.0])
    got = c.call(fn, pinf.copy(), qinf.copy())
    g = _as_float(got)
    if g.size == 1 and np.isfinite(g).all():
        c.fail("returns a finite number for p = (1/2, 1/2), q = (1, 0); it should be inf: Q gives probability 0 "
               "to an outcome P can produce, so p·log(p/q) = p·log(p/0) = +inf. (Did you add a small epsilon to q, "
               "or drop the terms where q = 0?)")
    c.close(got, expect(pinf, qinf), "for p = (1/2, 1/2), q = (1, 0) (Q misses part of P's support)",
            hint="The answer is inf: return np.inf when some q = 0 where p > 0.")
    # the other direction is finite: only zeros of q *where p > 0* matter
    got = c.call(fn, qinf.copy(), pinf.copy())
    c.close(got, expect(qinf, pinf), "for p = (1, 0), q = (1/2, 1/2) (it should be 1 bit)",
            hint="Only outcomes with p > 0 count; here KL = 1·log2(1/(1/2)) = 1 bit.")

    # 4. Lists as input.
    got = c.call(fn, [0.2, 0.8], [0.5, 0.5])
    c.close(got, expect([0.2, 0.8], [0.5, 0.5]), "for Python lists p = [0.2, 0.8], q = [0.5, 0.5]",
            hint="Convert the inputs with np.asarray(p, dtype=float) first.")
    c.done()
