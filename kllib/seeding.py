"""One seed for a whole chapter, read from the environment.

Every chapter of the book takes all of its randomness (NumPy generators, ``torch.manual_seed``,
Gymnasium environment seeds, the seeds passed to kllib's training functions) from one integer,
read once in the setup cell::

    SEED = book_seed()   # KL_BOOK_SEED from the environment, 0 if unset; or write SEED = 3

The published site is built with ``KL_BOOK_SEED=0``; ``make test-seeds`` runs every chapter under
other seeds, and the prose states only what holds for every seed.

>>> import os
>>> os.environ.pop("KL_BOOK_SEED", None) and None
>>> book_seed()
0
>>> os.environ["KL_BOOK_SEED"] = "7"
>>> book_seed()
7
>>> del os.environ["KL_BOOK_SEED"]
"""

from __future__ import annotations

import os

__all__ = ["book_seed", "seed_everything"]

ENV_VAR = "KL_BOOK_SEED"


def book_seed(default: int = 0) -> int:
    """The chapter's seed: the integer in ``$KL_BOOK_SEED``, or ``default`` when it is unset or empty.

    Raises ``ValueError`` when the variable holds something that is not a non-negative integer.
    """
    raw = os.environ.get(ENV_VAR, "").strip()
    if raw == "":
        return int(default)
    try:
        seed = int(raw)
    except ValueError:
        raise ValueError(
            f"{ENV_VAR}={raw!r} is not an integer: set it to a seed such as 0, 1 or 1234 "
            f"(or unset it to use {default})"
        ) from None
    if seed < 0:
        raise ValueError(f"{ENV_VAR}={seed} is negative: seeds are non-negative integers")
    return seed


def seed_everything(seed: int):
    """Seed Python's ``random``, torch (when it is installed) and return ``np.random.default_rng(seed)``.

    Returns the NumPy generator, so a setup cell reads ``rng = seed_everything(SEED)`` and prints
    nothing (``torch.manual_seed`` would otherwise echo a ``<torch._C.Generator ...>``).
    """
    import random
    import sys

    import numpy as np

    random.seed(seed)
    if "torch" in sys.modules or _torch_available():
        import torch

        torch.manual_seed(seed)
    return np.random.default_rng(seed)


def _torch_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("torch") is not None
