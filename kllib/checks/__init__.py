"""Self-graded checks for the book's coding exercises.

A check runs the student's function on cases the student has not seen and compares
the result with :mod:`kllib`, computed at run time: no file of answers ships with the
notebooks. When something is wrong it says what, in words a student can act on, for example
``your kl returns nan when p has a zero: by convention 0·log 0 = 0``.

Usage in a notebook::

    from kllib.checks import kl_bits_exercise   # the check cell imports its check itself
    kl_bits_exercise(kl_bits)   # prints "your kl_bits: all 10 checks passed." or raises CheckError

Every check exported here is guarded (:func:`kllib.checks._core.guarded`): it says so when it is
handed something that is not a function, it fails an answer that calls kllib (the reference it
compares with) instead of computing, and it refuses to grade a notebook whose answer cells patched
kllib, the checks, NumPy or torch. The modules of this package cannot be assigned to.

Each chapter's checks live in their own module (``kllib/checks/<chapter>.py``) and
are re-exported here.
"""
from kllib.checks._core import CheckError, Checker

__all__ = ["CheckError", "Checker"]

# Re-export each chapter's checks (added as chapters land).
from kllib.checks.gaussians import *  # noqa: E402,F401,F403
from kllib.checks.f_divergences import *  # noqa: E402,F401,F403
from kllib.checks.estimating_kl import *  # noqa: E402,F401,F403
from kllib.checks.definitions import *  # noqa: E402,F401,F403
from kllib.checks.information_theory import *  # noqa: E402,F401,F403
from kllib.checks.mutual_information import *  # noqa: E402,F401,F403
from kllib.checks.asymmetry import *  # noqa: E402,F401,F403
from kllib.checks.ppo import *  # noqa: E402,F401,F403
from kllib.checks.rl_for_llms import *  # noqa: E402,F401,F403
from kllib.checks.distillation import *  # noqa: E402,F401,F403
from kllib.checks.dpo import *  # noqa: E402,F401,F403
from kllib.checks.vae import *  # noqa: E402,F401,F403
from kllib.checks.gans import *  # noqa: E402,F401,F403
from kllib.checks.trpo import *  # noqa: E402,F401,F403
from kllib.checks.local_geometry import *  # noqa: E402,F401,F403

# Guard every *_exercise check and seal the package (last: after every chapter's module is imported).
import sys as _sys  # noqa: E402

from kllib.checks import _core  # noqa: E402

_core.seal(_sys.modules[__name__],
           [m for n, m in sorted(_sys.modules.items()) if n.startswith(__name__ + ".") and n != _core.__name__ and m])
del _sys
