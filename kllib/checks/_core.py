"""The machinery shared by every exercise check: run a case, compare, explain."""
from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np


class CheckError(AssertionError):
    """Raised when a student's function fails a check; the message says what to fix.

    In Jupyter (and in nbgrader's feedback) it shows as its message alone, wrapped, without a traceback
    through the checker's source; when the student's code crashed, the line of their code that raised.
    """

    def _render_traceback_(self) -> list[str]:  # IPython's hook for custom tracebacks
        import textwrap

        lines = textwrap.wrap(f"CheckError: {self}", width=100, subsequent_indent="    ", break_on_hyphens=False)
        cause = self.__cause__
        if cause is not None and cause.__traceback__ is not None:
            import traceback

            frames = [f for f in traceback.extract_tb(cause.__traceback__) if not _is_library(f.filename)]
            if frames:
                f = frames[-1]
                lines.append(f"    (raised in your code, in {f.name}: {(f.line or '').strip()[:80]})")
        return lines


class Checker:
    """Collects the cases of one exercise and reports the first failure clearly.

    Example
    -------
    >>> c = Checker("your entropy")
    >>> c.close(1.0, 1.0, "for a fair coin")
    >>> c.done()
    your entropy: all 1 checks passed.
    """

    def __init__(self, name: str):
        self.name = name
        self.passed = 0

    def call(self, fn: Callable, *args: Any, **kwargs: Any) -> Any:
        """Call the student's function; turn a crash into a readable failure."""
        if not callable(fn):
            raise CheckError(_not_a_function(self.name, fn))
        try:
            return fn(*args, **kwargs)
        except NotImplementedError:
            raise CheckError(f"{self.name} is not written yet: replace `raise NotImplementedError()` with your code.") from None
        except Exception as exc:  # noqa: BLE001 - we report any crash to the student
            raise CheckError(f"{self.name} raised {type(exc).__name__}: {exc} (inputs: {_short(args)})") from exc

    def fail(self, message: str) -> None:
        raise CheckError(f"{self.name} {message}")

    def close(self, got: Any, expected: Any, context: str, *, rtol: float = 1e-6, atol: float = 1e-9, hint: str = "") -> None:
        """Check ``got`` against ``expected`` (numbers or arrays), allowing ``inf``."""
        g = np.asarray(_to_numpy(got), dtype=float)
        e = np.asarray(_to_numpy(expected), dtype=float)
        if g.shape != e.shape and g.size != e.size:
            self.fail(f"returns shape {g.shape} {context}; expected shape {e.shape}. {hint}".rstrip())
        g = g.reshape(e.shape)
        if np.isnan(g).any() and not np.isnan(e).any():
            self.fail(f"returns nan {context}. {hint}".rstrip())
        ok = np.isclose(g, e, rtol=rtol, atol=atol, equal_nan=True) | ((g == e) & np.isinf(e))
        if not ok.all():
            self.fail(f"returns {_fmt(g)} {context}, which is not right. {hint}".rstrip())
        self.passed += 1

    def done(self) -> None:
        for guard in _ACTIVE:  # an answer that delegates to kllib does not pass, even if its numbers do
            guard.verdict(self.name)
        print(f"{self.name}: all {self.passed} checks passed.")


def _to_numpy(x: Any) -> Any:
    if hasattr(x, "detach"):
        return x.detach().cpu().numpy()
    return x


def _fmt(x: np.ndarray) -> str:
    if x.ndim == 0:
        v = float(x)
        return "inf" if math.isinf(v) else f"{v:.6g}"
    return np.array2string(x, precision=4, threshold=8)


def _short(args: tuple) -> str:
    text = ", ".join(repr(a) for a in args)
    return text if len(text) < 120 else text[:117] + "..."


# --------------------------------------------------------------------------------------------------
# Guards: every exercise check exported by kllib.checks runs inside `guarded`, which
#  1. says clearly when it is handed something that is not a function (a float, None, ...);
#  2. fails when the answer delegates to kllib (the reference the check compares with), e.g.
#     `return kl(p, q, base=2)`: any call into kllib made from the student's code is recorded;
#  3. fails when kllib, kllib.checks, NumPy or torch were patched after the checks were imported
#     (e.g. `kllib.kl = ...` or `Checker.close = ...` in an answer cell), and refuses assignments to
#     the checks' own modules (`checks.kl_bits_exercise = ...` raises at once).
# The check cell re-imports its check (`from kllib.checks import kl_bits_exercise`), so a name
# rebound in the notebook cannot stand in for it either.
# --------------------------------------------------------------------------------------------------
import functools as _functools
import os as _os
import sys as _sys
import sysconfig as _sysconfig
import types as _types

_KLLIB_DIR = _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__))) + _os.sep
_LIB_DIRS = tuple(sorted({_os.path.abspath(p) + _os.sep for p in
                          [_sysconfig.get_paths().get(k) for k in ("stdlib", "platstdlib", "purelib", "platlib")]
                          + [_sys.prefix, _sys.base_prefix, _sys.exec_prefix] if p}))
# Namespaces whose public callables must not change between importing the checks and running one.
_WATCHED = ("numpy", "numpy.linalg", "math", "torch", "torch.nn.functional", "scipy.special", "scipy.stats")


def _is_library(filename: str) -> bool:
    if filename.startswith("<ipython-input"):
        return False
    if filename.startswith("<"):  # <frozen importlib...>, <string> of dataclasses and namedtuples
        return True
    return _os.path.abspath(filename).startswith(_LIB_DIRS) or filename.startswith(_KLLIB_DIR)


def _in_kllib(code) -> bool:
    return code.co_filename.startswith(_KLLIB_DIR)


def _kllib_name(obj: Any) -> str:
    """'kllib.discrete.kl' when ``obj`` (or what it wraps) is a kllib function or class, else ''."""
    seen = 0
    while seen < 10:
        seen += 1
        if isinstance(obj, _functools.partial):
            obj = obj.func
        elif isinstance(obj, _types.MethodType):
            obj = obj.__func__
        else:
            break
    code = getattr(obj, "__code__", None)
    module = getattr(obj, "__module__", None) or ""
    in_kllib = _in_kllib(code) if code is not None else (module == "kllib" or module.startswith("kllib."))
    if in_kllib:
        return f"{module}.{getattr(obj, '__qualname__', getattr(obj, '__name__', type(obj).__name__))}"
    return ""


class _Guard:
    """State of the one check that is running: the kllib functions the student's code called."""

    def __init__(self, allowed: tuple[str, ...]):
        self.allowed = allowed
        self.delegated: list[str] = []

    def profile(self, frame, event, arg):  # sys.setprofile hook: records, never raises
        if event != "call":
            return
        code = frame.f_code
        if not _in_kllib(code):
            return
        back = frame.f_back
        if back is None or _is_library(back.f_code.co_filename):
            return
        module = frame.f_globals.get("__name__", "kllib")
        name = f"{module}.{code.co_qualname if hasattr(code, 'co_qualname') else code.co_name}"
        if name not in self.delegated and not any(name == a or name.startswith(a + ".") for a in self.allowed):
            self.delegated.append(name)

    def verdict(self, check_name: str) -> None:
        if self.delegated:
            used = ", ".join(f"`{n}`" for n in self.delegated[:3])
            raise CheckError(f"{check_name} calls {used} from kllib, the library this check compares with: the exercise "
                             f"asks you to write the computation yourself (NumPy or torch operations), so an answer that "
                             f"delegates to kllib earns no credit. Rewrite it without kllib and run this cell again.")


_ACTIVE: list[_Guard] = []


def _public_callables(module: _types.ModuleType) -> dict[str, Any]:
    out = {}
    for name, obj in list(vars(module).items()):
        if not name.startswith("_") and callable(obj) and not isinstance(obj, _types.ModuleType):
            out[name] = obj
    return out


def _from_notebook(obj: Any) -> bool:
    """Whether ``obj`` is (or calls) code written outside any installed library: a notebook cell, a script."""
    for _ in range(10):
        if isinstance(obj, _functools.partial):
            obj = obj.func
        elif isinstance(obj, _types.MethodType):
            obj = obj.__func__
        else:
            break
    code = getattr(obj, "__code__", None)
    if code is None and not isinstance(obj, type):
        code = getattr(getattr(type(obj), "__call__", None), "__code__", None)
    if code is None:
        return False
    name = code.co_filename
    if name.startswith("<"):  # <ipython-input-..>, <string> of exec/-c; not <frozen ...>
        return not name.startswith("<frozen")
    return not _is_library(name)


class _Snapshot:
    """The public callables of kllib, kllib.checks, NumPy, torch ... as they were when the checks were imported."""

    def __init__(self) -> None:
        self.modules: dict[str, tuple[_types.ModuleType, dict[str, Any]]] = {}
        self.classes: dict[str, tuple[type, dict[str, Any]]] = {}
        self.update()

    def _watched(self):
        for name, module in list(_sys.modules.items()):
            if module is None:
                continue
            if name == "kllib" or name.startswith("kllib.") or name in _WATCHED:
                yield name, module

    def update(self) -> None:
        for name, module in self._watched():
            if name not in self.modules:
                self.modules[name] = (module, _public_callables(module))
        for cls in (Checker, CheckError):
            key = f"kllib.checks.{cls.__name__}"
            if key not in self.classes:
                self.classes[key] = (cls, dict(vars(cls)))

    def changed(self) -> list[str]:
        out = []
        for name, (module, funcs) in self.modules.items():
            if _sys.modules.get(name) is not module:
                out.append(f"sys.modules[{name!r}]")
                continue
            d = vars(module)
            strict = name == "kllib" or name.startswith("kllib.")
            for k, v in list(funcs.items()):
                now = d.get(k)
                if now is v:
                    continue
                if strict or now is None or _from_notebook(now):
                    out.append(f"{name}.{k}")
                else:  # a library rebinding its own function (torch._dynamo wraps torch.manual_seed, ...)
                    funcs[k] = now
        for name, (cls, attrs) in self.classes.items():
            d = vars(cls)
            out += [f"{name}.{k}" for k, v in attrs.items() if d.get(k) is not v]
            out += [f"{name}.{k}" for k in d if k not in attrs]
        return out


_SNAPSHOT: list[_Snapshot] = []


def _verify_integrity(check_name: str) -> None:
    if not _SNAPSHOT:
        _SNAPSHOT.append(_Snapshot())
    snap = _SNAPSHOT[0]
    changed = snap.changed()
    if changed:
        shown = ", ".join(changed[:4]) + (" ..." if len(changed) > 4 else "")
        raise CheckError(f"{check_name} cannot grade this notebook: {shown} was replaced after the checks were imported "
                         f"(an answer cell must not patch kllib, its checks, NumPy or torch). Remove that code, restart "
                         f"the kernel and run all cells again.")
    snap.update()  # modules imported since (torch, kllib.rl, ...) are watched from now on


def _not_a_function(check_name: str, fn: Any) -> str:
    what = type(fn).__name__
    text = repr(fn)
    text = text if len(text) <= 60 else text[:57] + "..."
    if check_name.startswith("your "):
        target = check_name[len("your "):].split()[0]
    elif check_name.endswith("_exercise"):
        target = check_name[: -len("_exercise")]
    else:
        target = "your_function"
    return (f"{check_name} needs a function, but it was handed a {what}, {text}. Define it with "
            f"`def {target}(...):` in the answer cell above, run that cell (fix any error it shows) "
            f"and then run this cell again.")


def guarded(check: Callable) -> Callable:
    """Wrap an exercise check with the guards above (kllib.checks applies it to every check it exports).

    A check that legitimately lets answers call some kllib functions names them in the attribute
    ``__kllib_allowed__`` (a tuple such as ``("kllib.discrete.entropy",)``) on the check function.
    """
    if getattr(check, "__kllib_guarded__", False):
        return check
    allowed = tuple(getattr(check, "__kllib_allowed__", ()))
    name = check.__name__

    @_functools.wraps(check)
    def wrapper(fn, *args, **kwargs):
        if not callable(fn):
            raise CheckError(_not_a_function(name, fn))
        _verify_integrity(name)
        who = f"your {getattr(fn, '__name__', 'function')}"
        guard = _Guard(allowed)
        direct = _kllib_name(fn)
        if direct and not any(direct == a or direct.startswith(a + ".") for a in allowed):
            guard.delegated.append(direct)
            guard.verdict(who)
        previous = _sys.getprofile()
        _ACTIVE.append(guard)
        _sys.setprofile(guard.profile)
        try:
            result = check(fn, *args, **kwargs)
        except CheckError:
            _sys.setprofile(previous)
            guard.verdict(who)  # a delegation is the more useful message than the check's own failure
            raise
        finally:
            _sys.setprofile(previous)
            _ACTIVE.remove(guard)
        guard.verdict(who)
        _verify_integrity(name)
        return result

    wrapper.__kllib_guarded__ = True
    return wrapper


class _SealedModule(_types.ModuleType):
    """A kllib.checks module: its checks cannot be replaced from a notebook (assignments raise)."""

    def __setattr__(self, name: str, value: Any) -> None:
        current = vars(self).get(name, None)
        is_submodule = isinstance(value, _types.ModuleType) and value.__name__ == f"{self.__name__}.{name}"
        dunder = name.startswith("__") and name.endswith("__")  # set by the import system (importlib.reload)
        if name in vars(self) and not (is_submodule or dunder) and current is not value:
            raise AttributeError(f"{self.__name__}.{name} cannot be replaced: the checks grade your answer as they "
                                 f"are. Remove the line that assigns it, restart the kernel and run all cells.")
        super().__setattr__(name, value)

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{self.__name__}.{name} cannot be deleted.")


def seal(package: _types.ModuleType, chapter_modules: list[_types.ModuleType]) -> None:
    """Guard every check in ``__all__`` of the chapter modules, re-export it from ``package``, seal them all."""
    for module in chapter_modules:
        for name in getattr(module, "__all__", []):
            obj = vars(module)[name]
            if callable(obj) and name.endswith("_exercise"):
                g = guarded(obj)
                vars(module)[name] = g
                vars(package)[name] = g
                if name not in package.__all__:
                    package.__all__.append(name)
    for module in [package, _sys.modules[__name__], *chapter_modules]:
        if type(module) is _types.ModuleType:
            module.__class__ = _SealedModule
    if not _SNAPSHOT:
        _SNAPSHOT.append(_Snapshot())
    else:
        _SNAPSHOT[0].update()
