"""Array dispatch (through ``array-api-compat``) and input validation shared by every :mod:`kllib` function.

Rules every public function follows
-----------------------------------
* **Types.** Inputs may be Python numbers, (nested) lists or tuples of numbers, NumPy arrays, torch
  tensors, or arrays of any other library that implements the Python array API standard (JAX,
  ``array-api-strict``, CuPy, ...). Strings, dicts, sets, ``None``, complex numbers and lists *of
  tensors* raise ``TypeError`` (stack the tensors first, ``torch.stack(xs)``, so autograd can see them).
* **Backend.** One array namespace ``xp`` per call, from :func:`array_api_compat.array_namespace`, as
  SciPy and scikit-learn do. If any input is a torch tensor the computation runs in torch (on that
  tensor's device) and the result is a tensor that autograd (and ``torch.func``) can differentiate.
  Otherwise, if any input is an array of another array-API library, the result is an array of that
  library. Otherwise it runs in NumPy and the result is a NumPy array, or a NumPy scalar
  (``numpy.float64`` / ``numpy.float32``) when the result has no dimensions, so ``float(kl(p, q))``
  always works.
* **Dtype.** The floating dtype of the array inputs is kept (float32 stays float32, float64 stays
  float64; mixed float32/float64 promotes to float64). Python numbers, lists and integer arrays take
  that dtype; with no floating array among the inputs everything becomes the library's default
  floating dtype (float64 for NumPy and torch). Half precision (float16, bfloat16) is computed in
  float32 and the result is returned in the input's dtype, so every function works in half precision.
* **Axis.** ``axis`` names the axis that holds one distribution (default ``-1``: each row is a
  distribution). This differs from :func:`scipy.stats.entropy`, whose default is ``axis=0``.
* **Validation.** With ``validate=True`` (the default) bad input raises ``ValueError`` with a message
  that says what is wrong, where, and how to fix it. Probability vectors must be finite,
  non-negative and sum to 1 within ``1e-6`` (float64) or ``1e-4`` (float32; ``1e-2`` for half
  precision) along ``axis``. The checks run in the input's own library (no copy to NumPy unless
  something is wrong). ``validate`` must be ``True`` or ``False``. Pass ``validate=False`` to skip
  the checks in a hot loop.
* **Transforms.** Under ``torch.func.vmap`` (and ``jacfwd``/``hessian``, which batch) and inside
  ``torch.compile``, the *data-dependent* checks (finite, non-negative, sums to 1) are skipped, since
  their outcome cannot be known while tracing; type, shape and axis checks still run. Under
  ``torch.func.grad``, ``vjp`` and ``jacrev`` the values are available and are checked as usual.
"""
from __future__ import annotations

import math
import numbers
import sys

import numpy as np

__all__ = ["Backend", "prepare", "sum_tolerance"]


# --------------------------------------------------------------------------- the namespace of a call
class Backend:
    """The array namespace ``xp`` of one call, and what kllib needs to know about it."""

    __slots__ = ("xp", "dtype", "out_dtype", "device", "is_torch", "is_numpy", "name", "checkable")

    def __init__(self, xp, dtype, out_dtype, device, kind, checkable=True):
        self.xp = xp
        self.dtype = dtype            # the dtype the computation runs in
        self.out_dtype = out_dtype    # the dtype of the result (the inputs' dtype)
        self.device = device
        self.is_torch = kind == "torch"
        self.is_numpy = kind == "numpy"
        self.name = kind
        self.checkable = checkable    # False under vmap / torch.compile: skip data-dependent checks

    def finish(self, x):
        """The result in the inputs' dtype: a NumPy scalar for a 0-d NumPy result, an array otherwise."""
        if self.out_dtype != self.dtype:
            x = self.xp.astype(x, self.out_dtype)
        if self.is_numpy:
            x = np.asarray(x)
            return x[()] if x.ndim == 0 else x
        return x

    def errstate(self):
        if self.is_numpy:
            return np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore")
        return _NULL


class _Null:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


_NULL = _Null()


def _torch():
    """The torch module if it has been imported by the user, else ``None``."""
    return sys.modules.get("torch")


def _is_tensor(x) -> bool:
    t = _torch()
    return t is not None and isinstance(x, t.Tensor)


def _type_error(name, x):
    return TypeError(
        f"{name} must be a number, a list of numbers, a NumPy array or a torch tensor; "
        f"got {type(x).__name__}"
        + (f" {x!r}" if isinstance(x, str) and len(x) < 40 else "")
        + "."
    )


def _contains_tensor(x, depth=0) -> bool:
    """Whether a (nested) list holds torch tensors: all top-level entries of a short list, else the first."""
    if depth > 4 or len(x) == 0:
        return False
    for e in (x if len(x) <= 64 else x[:1]):
        if _is_tensor(e) or (isinstance(e, (list, tuple)) and _contains_tensor(e, depth + 1)):
            return True
    return False


def _classify(x, name):
    """'torch', 'numpy', 'python' or 'xp' (another array-API library); reject what we cannot handle."""
    if _is_tensor(x):
        if x.is_complex():
            raise TypeError(f"{name} is a complex tensor; kllib works with real numbers.")
        return "torch"
    if isinstance(x, (np.ndarray, np.generic)):
        kind = np.asarray(x).dtype.kind
        if kind in "fiub":
            return "numpy"
        if kind == "c":
            raise TypeError(f"{name} is a complex array; kllib works with real numbers.")
        if kind == "O":
            return "python"
        raise _type_error(name, x)
    if isinstance(x, bool) or x is None or isinstance(x, (str, bytes, dict, set, frozenset)):
        raise _type_error(name, x)
    if isinstance(x, (list, tuple)):
        if _torch() is not None and _contains_tensor(x):
            raise TypeError(
                f"{name} is a list of torch tensors: stack them into one tensor first, "
                f"torch.stack({name}) (or torch.tensor of plain numbers), so the result stays differentiable."
            )
        return "python"
    if isinstance(x, numbers.Real):
        return "python"
    if hasattr(x, "__array_namespace__"):
        return "xp"
    raise _type_error(name, x)


def _to_numpy_float(x, name, dtype):
    try:
        with np.errstate(all="ignore"):
            arr = np.asarray(x, dtype=dtype)
    except (TypeError, ValueError) as exc:
        msg = str(exc)
        if "inhomogeneous" in msg or "sequence" in msg:
            raise ValueError(
                f"{name} is a ragged nested list (rows of different lengths): "
                f"every row must have the same number of entries."
            ) from None
        raise TypeError(f"{name} contains entries that are not numbers ({msg}).") from None
    return arr


def _torch_checkable(torch, arrays) -> bool:
    """False inside torch.compile or under a batching torch.func transform (vmap, jacfwd, hessian)."""
    if torch.compiler.is_compiling():
        return False
    F = torch._C._functorch
    for a in arrays:
        y = a
        while F.is_functorch_wrapped_tensor(y):
            if F.is_batchedtensor(y):
                return False
            y = F.get_unwrapped(y)
    return True


def _compat():
    import array_api_compat

    return array_api_compat


_F64 = np.dtype(np.float64)
_F32 = np.dtype(np.float32)
_NUMPY_BACKENDS = {}
_XTORCH = []


def _numpy_backend(dtype):
    be = _NUMPY_BACKENDS.get(dtype)
    if be is None:
        from array_api_compat import numpy as xnp

        be = _NUMPY_BACKENDS[dtype] = Backend(xnp, dtype, dtype, "cpu", "numpy")
    return be


def _xtorch():
    if not _XTORCH:
        from array_api_compat import torch as xt

        _XTORCH.append(xt)
    return _XTORCH[0]


def numpy_view(be, x):
    """``x`` as a NumPy array without a copy when it is NumPy, or a plain (untransformed) CPU torch tensor
    in float32/float64 whose values may be checked; ``None`` otherwise. For fast validation."""
    if be.is_numpy:
        return x
    if be.is_torch and be.checkable:
        torch = _torch()
        if (
            x.device.type == "cpu"
            and (x.dtype is torch.float32 or x.dtype is torch.float64)
            and plain_torch(torch)
        ):
            return x.detach().numpy()
    return None


def plain_torch(torch) -> bool:
    """No torch.func transform is active and torch.compile is not tracing: plain eager torch."""
    return torch._C._functorch.maybe_current_level() is None and not torch.compiler.is_compiling()


def prepare(*args, names):
    """Convert the inputs to one namespace and one floating dtype.

    Returns ``(be, arrays)`` where ``be`` is the :class:`Backend` of the call.
    """
    # Fast paths for the hot loops: all NumPy arrays, or all torch tensors, of one float32/float64 dtype.
    a0 = args[0]
    if type(a0) is np.ndarray:
        dt = a0.dtype
        if (dt == _F64 or dt == _F32) and all(type(a) is np.ndarray and a.dtype == dt for a in args[1:]):
            return _numpy_backend(dt), list(args)
    else:
        torch = _torch()
        if torch is not None and isinstance(a0, torch.Tensor):
            dt, dev = a0.dtype, a0.device
            if (dt is torch.float32 or dt is torch.float64) and all(
                isinstance(a, torch.Tensor) and a.dtype is dt and a.device == dev for a in args[1:]
            ):
                return Backend(_xtorch(), dt, dt, dev, "torch", _torch_checkable(torch, args)), list(args)
    kinds = [_classify(a, n) for a, n in zip(args, names)]
    if "torch" in kinds:
        return _prepare_torch(args, kinds, names)
    if "xp" in kinds:
        return _prepare_other(args, kinds, names)
    dtype = None
    for a, k in zip(args, kinds):
        if k == "numpy":
            dt = np.asarray(a).dtype
            if dt.kind == "f":
                dtype = dt if dtype is None else np.promote_types(dtype, dt)
    if dtype is None:
        dtype = np.dtype(np.float64)
    out_dtype = dtype
    if dtype.itemsize < 4:
        dtype = np.dtype(np.float32)
    out = [_to_numpy_float(a, n, dtype) for a, n in zip(args, names)]
    from array_api_compat import numpy as xnp

    return Backend(xnp, dtype, out_dtype, "cpu", "numpy"), out


def _prepare_torch(args, kinds, names):
    torch = _torch()
    dtype = None
    device = None
    for a, k in zip(args, kinds):
        if k == "torch":
            if device is None:
                device = a.device
            if a.is_floating_point():
                dtype = a.dtype if dtype is None else torch.promote_types(dtype, a.dtype)
        elif k == "numpy" and np.asarray(a).dtype.kind == "f":
            ndt = torch.from_numpy(np.zeros(0, dtype=np.asarray(a).dtype)).dtype
            dtype = ndt if dtype is None else torch.promote_types(dtype, ndt)
        elif k == "xp":
            raise TypeError(
                f"{names[kinds.index('xp')]} is a {type(a).__module__} array but another input is a torch "
                f"tensor: pass arrays of one library."
            )
    if dtype is None:
        dtype = torch.float64
    out_dtype = dtype
    if dtype in (torch.float16, torch.bfloat16):
        dtype = torch.float32
    out = []
    for a, k, n in zip(args, kinds, names):
        if k == "torch":
            out.append(a if (a.dtype == dtype and a.device == device) else a.to(device=device, dtype=dtype))
        else:
            arr = _to_numpy_float(a, n, np.float64)
            out.append(torch.as_tensor(arr, dtype=dtype, device=device))
    from array_api_compat import torch as xt

    return Backend(xt, dtype, out_dtype, device, "torch", _torch_checkable(torch, out)), out


def _prepare_other(args, kinds, names):
    compat = _compat()
    arrays = [a for a, k in zip(args, kinds) if k == "xp"]
    try:
        xp = compat.array_namespace(*arrays)
    except TypeError:
        raise TypeError(
            f"{', '.join(names)} are arrays of different libraries: pass arrays of one library."
        ) from None
    dtype = None
    device = compat.device(arrays[0])
    for a, k in zip(args, kinds):
        if k == "xp":
            if xp.isdtype(a.dtype, "complex floating"):
                raise TypeError(f"{names[args.index(a)]} is a complex array; kllib works with real numbers.")
            if xp.isdtype(a.dtype, "real floating"):
                dtype = a.dtype if dtype is None else xp.result_type(dtype, a.dtype)
    if dtype is None:
        dtype = xp.__array_namespace_info__().default_dtypes(device=device)["real floating"]
    out_dtype = dtype
    if str(dtype).endswith(("float16", "bfloat16")):
        dtype = xp.float32
    out = []
    for a, k, n in zip(args, kinds, names):
        if k == "xp":
            out.append(a if a.dtype == dtype else xp.astype(a, dtype))
        else:
            arr = _to_numpy_float(a, n, np.float64)
            out.append(xp.asarray(arr.tolist() if arr.ndim else float(arr), dtype=dtype, device=device))
    return Backend(xp, dtype, out_dtype, device, "xp", not compat.is_jax_namespace(xp) or _jax_concrete(out)), out


def _jax_concrete(arrays) -> bool:
    """False when JAX is tracing (jit, grad, vmap): the values are not known then."""
    try:
        import jax

        return not any(isinstance(a, jax.core.Tracer) for a in arrays)
    except Exception:  # pragma: no cover
        return True


def to_numpy(be, x):
    """A NumPy copy of ``x`` (float64 for torch half precision), for error messages."""
    if be.is_numpy:
        return np.asarray(x)
    if be.is_torch:
        F = _torch()._C._functorch
        if F.is_functorch_wrapped_tensor(x):  # under torch.func.grad: the values underneath
            while F.is_functorch_wrapped_tensor(x):
                x = F.get_unwrapped(x)
            return np.asarray(x.tolist(), dtype=np.float64)
        x = x.detach().cpu()
        if x.dtype not in (_torch().float32, _torch().float64, _torch().bool):
            x = x.double()
        return x.numpy()
    try:
        return np.from_dlpack(x)
    except Exception:
        return np.asarray(x)


def _any(be, cond) -> bool:
    return bool(be.xp.any(cond))


# --------------------------------------------------------------------------- numerics
def where(be, cond, a, b):
    """``xp.where`` that accepts Python scalars for ``a`` and ``b`` in every namespace."""
    xp = be.xp
    if be.is_torch or be.is_numpy:
        return xp.where(cond, a, b)
    if isinstance(a, (int, float)):
        a = xp.asarray(a, dtype=be.dtype, device=be.device)
    if isinstance(b, (int, float)):
        b = xp.asarray(b, dtype=be.dtype, device=be.device)
    return xp.where(cond, a, b)


def logsumexp(be, x, axis, keepdims=False):
    xp = be.xp
    if be.is_torch:
        return _torch().logsumexp(x, dim=axis, keepdim=keepdims)
    if be.is_numpy:
        from scipy.special import logsumexp as lse

        return lse(x, axis=axis, keepdims=keepdims)
    m = xp.max(x, axis=axis, keepdims=True)
    m = where(be, xp.isfinite(m), m, 0.0)
    s = xp.log(xp.sum(xp.exp(x - m), axis=axis, keepdims=True)) + m
    return s if keepdims else xp.squeeze(s, axis=axis)


def log_softmax(be, x, axis):
    if be.is_torch:
        return _torch().log_softmax(x, dim=axis)
    if be.is_numpy:
        from scipy.special import log_softmax as ls

        return ls(x, axis=axis)
    return x - logsumexp(be, x, axis, keepdims=True)


def expm1_minus_x(be, x):
    r""":math:`e^x - 1 - x` accurate for every :math:`x` (a Taylor series for :math:`|x| < 1`).

    ``expm1(x) - x`` alone loses relative accuracy as :math:`x \to 0` (the result is
    :math:`\approx x^2/2` but the rounding error of ``expm1`` is :math:`\approx \varepsilon |x|`).

    Used by :func:`kllib.k3` (:math:`(r - 1) - \log r`) and by the Gaussian KLs
    (:math:`\rho - 1 - \log \rho` with :math:`\rho` a variance ratio). In torch it is an autograd
    Function with the derivative ``expm1(x)`` (itself differentiable), which works with
    ``torch.func`` (grad, vmap, jacrev, hessian) and ``torch.compile``.
    """
    if be.is_torch and x.requires_grad:
        # The series below is ~40 elementwise operations; recording all of them for autograd made the VAE
        # term 6x slower than the textbook formula. The derivative is simply expm1(x), which is accurate.
        return _Expm1MinusX.apply(x)
    if be.is_numpy:
        return _expm1_minus_x_value(np, x)  # NumPy itself: no wrapper overhead on the ~40 small operations
    return _expm1_minus_x_value(be.xp, x)


def _expm1_minus_x_value(xp, x):
    # Below |x| = 1 the series; above, expm1(x) - x loses at most a factor (e - 1)/(e - 2) ~ 2.4 of
    # the rounding of expm1 (at |x| = 1/2 it would be 4.2, more than a test of 4e-16 allows).
    small = xp.abs(x) < 1.0
    xs = xp.where(small, x, xp.zeros_like(x))
    # x^2/2 * (1 + x/3 * (1 + x/4 * (1 + ... ))) to x^21: error < 2/22! ~ 2e-21 relative
    acc = 1.0
    for n in range(21, 2, -1):
        acc = 1.0 + xs / n * acc
    series = 0.5 * (xs * xs) * acc
    xl = xp.where(small, xp.ones_like(x), x)
    large = xp.expm1(xl) - xl
    return xp.where(small, series, large)


def _make_expm1_minus_x_function():
    import torch

    class Expm1MinusX(torch.autograd.Function):
        """e^x - 1 - x with the gradient expm1(x) (itself differentiable, so double backward works).

        Written in the form torch.func needs: a ``forward`` without ``ctx``, a ``setup_context``, and
        ``generate_vmap_rule`` (the forward and backward are plain torch operations).
        """

        generate_vmap_rule = True

        @staticmethod
        def forward(x):
            if (
                x.device.type == "cpu"
                and x.numel() <= 65536
                and (x.dtype is torch.float32 or x.dtype is torch.float64)
                and plain_torch(torch)
            ):
                # small CPU tensors (the VAE term): the ~40 elementwise operations are much cheaper in NumPy
                with np.errstate(all="ignore"):
                    return torch.from_numpy(np.asarray(_expm1_minus_x_value(np, x.detach().numpy())))
            return _expm1_minus_x_value(torch, x)

        @staticmethod
        def setup_context(ctx, inputs, output):
            (x,) = inputs
            ctx.save_for_backward(x)
            ctx.save_for_forward(x)  # for jvp (forward mode: jacfwd, hessian)

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            return grad * torch.expm1(x)

        @staticmethod
        def jvp(ctx, x_t):
            (x,) = ctx.saved_tensors
            return x_t * torch.expm1(x)

    return Expm1MinusX


class _LazyFunction:
    """Build the torch autograd Function on first use, so importing kllib does not import torch."""

    def __init__(self, factory):
        self.factory, self.fn = factory, None

    def apply(self, *args):
        if self.fn is None:
            self.fn = self.factory()
        return self.fn.apply(*args)


_Expm1MinusX = _LazyFunction(_make_expm1_minus_x_function)


# --------------------------------------------------------------------------- validation
def sum_tolerance(dtype) -> float:
    """How far from 1 a probability vector's sum may be: 1e-6 (float64), 1e-4 (float32), 1e-2 (half)."""
    s = str(dtype)
    if "float64" in s or "double" in s or "longdouble" in s or "float128" in s:
        return 1e-6
    if "float32" in s or s.endswith("float"):
        return 1e-4
    return 1e-2


def float_eps(dtype) -> float:
    """Machine epsilon of a floating dtype (NumPy, torch or another array-API library)."""
    s = str(dtype)
    if "float64" in s or "double" in s:
        return float(np.finfo(np.float64).eps)
    if "float32" in s:
        return float(np.finfo(np.float32).eps)
    if "bfloat16" in s:
        return 2.0**-7
    return float(np.finfo(np.float16).eps)


def _dtype_name(dtype) -> str:
    s = str(dtype)
    for n in ("bfloat16", "float16", "float32", "float64"):
        if n in s:
            return n
    return s


def check_validate(validate):
    if not isinstance(validate, (bool, np.bool_)):
        raise TypeError(f"validate must be True or False, got {validate!r}.")


def _where(idx) -> str:
    """Format an index tuple for a message."""
    idx = tuple(int(i) for i in idx)
    if len(idx) == 1:
        return str(idx[0])
    return str(idx)


def _entry(name, idx) -> str:
    return f"{name}[{', '.join(str(int(i)) for i in idx)}]" if len(idx) else name


def _sum_hint(be, name, axis):
    if be.is_torch:
        return f"{name} / {name}.sum(dim={axis}, keepdim=True)"
    return f"{name} / {name}.sum(axis={axis}, keepdims=True)"


def check_axis(axis, *arrays_and_names):
    """Normalise ``axis`` against the broadcast shape; return a negative axis."""
    if isinstance(axis, bool) or not isinstance(axis, (numbers.Integral,)):
        raise TypeError(f"axis must be an integer (the axis that holds each distribution), got {axis!r}.")
    ndim = max(a.ndim for a, _ in arrays_and_names)
    if ndim == 0:
        names = " and ".join(n for _, n in arrays_and_names)
        raise ValueError(
            f"{names} {'is a scalar' if len(arrays_and_names) == 1 else 'are scalars'}: "
            f"a distribution needs at least one axis, e.g. [0.2, 0.8] instead of 0.2."
        )
    if not -ndim <= axis < ndim:
        raise ValueError(f"axis={axis} is out of range for inputs with {ndim} dimension(s).")
    neg = int(axis - ndim if axis >= 0 else axis)
    for a, n in arrays_and_names:
        if a.ndim < -neg:
            raise ValueError(
                f"{n} has shape {tuple(a.shape)}, which has no axis {axis} to hold the distribution."
            )
    return neg


def check_broadcast(arrays_and_names, axis=None):
    """Shapes broadcast, and (if ``axis`` is given) have the same number of outcomes along it."""
    if axis is not None:
        # checked first: it is the more useful message when the outcome counts differ
        sizes = [(a.shape[axis], n) for a, n in arrays_and_names if a.ndim >= -axis]
        ks = {k for k, _ in sizes}
        if len(ks) > 1:
            desc = " but ".join(f"{n} has {k} outcomes" for k, n in sizes)
            raise ValueError(
                f"{desc} along axis {axis}: the distributions must be over the same outcomes."
            )
    shapes = [tuple(a.shape) for a, _ in arrays_and_names]
    try:
        shape = np.broadcast_shapes(*shapes)
    except ValueError:
        desc = ", ".join(f"{n} has shape {s}" for (_, n), s in zip(arrays_and_names, shapes))
        raise ValueError(
            f"shapes do not broadcast: {desc}. Give them the same shape, or shapes that broadcast "
            f"(a distribution of shape (k,) against a batch of shape (n, k) works)."
        ) from None
    return shape


def _raise_finite(a, name, allow):
    """Raise the message for the first NaN or disallowed infinity of the NumPy array ``a``."""
    bad = np.isnan(a)
    bad_inf = np.isposinf(a) if allow == "-inf" else np.isinf(a)
    if bad.any():
        idx = np.argwhere(bad)[0] if a.ndim else ()
        raise ValueError(
            f"{_entry(name, idx)} is NaN: every entry of {name} must be a number. "
            f"Look for a 0/0 or log of a negative number upstream."
        )
    if bad_inf.any():
        idx = np.argwhere(bad_inf)[0] if a.ndim else ()
        val = a[tuple(idx)] if a.ndim else a
        raise ValueError(
            f"{_entry(name, idx)} is {val}: every entry of {name} must be finite"
            + (" (-inf is allowed)." if allow == "-inf" else ".")
        )


def check_finite(be, x, name, *, allow=None):
    """No NaN (and no infinities unless ``allow`` is '-inf'). Checked in ``x``'s own library."""
    if not be.checkable:
        return
    a = numpy_view(be, x)
    if a is not None:
        # one reduction in the common case; a NaN or an infinity (or an overflowing sum) goes on to the full check
        if a.size == 0:
            return
        with np.errstate(all="ignore"):
            if (a.max() < math.inf) if allow == "-inf" else np.isfinite(a.sum()):
                return
    xp = be.xp
    if allow == "-inf":
        bad = xp.isnan(x) | (x == math.inf)
    else:
        bad = ~xp.isfinite(x)
    if _any(be, bad):
        _raise_finite(to_numpy(be, x), name, allow)


def _slice_word(axis, ndim):
    if axis in (-1, ndim - 1):
        return "row"
    return "column" if ndim == 2 else "slice"


def check_probs(be, x, name, axis, shown_axis=None):
    """Finite, non-negative, sums to 1 along ``axis`` (within :func:`sum_tolerance`).

    ``shown_axis`` is the axis as the user wrote it, for the message.
    """
    if not be.checkable:
        return
    xp = be.xp
    shown = axis if shown_axis is None else shown_axis
    tol = sum_tolerance(be.out_dtype)
    a = numpy_view(be, x)
    if a is not None:
        # Two reductions in the common case: the minimum (NaN and negatives fail `>= 0`) and the sums
        # (+inf fails the tolerance); anything else goes on to the full checks and their messages.
        if a.size == 0:
            return
        with np.errstate(all="ignore"):
            if a.min() >= 0 and bool(np.all(np.abs(a.sum(axis=axis) - 1.0) <= tol)):
                return
    # One pass for the common case: NaN, negative and +inf entries all fail `0 <= x < inf`.
    if _any(be, ~((x >= 0) & (x < math.inf))):
        a = to_numpy(be, x)
        _raise_finite(a, name, None)
        idx = np.argwhere(a < 0)[0]
        raise ValueError(
            f"{_entry(name, idx)} = {a[tuple(idx)]:.6g} is negative: probabilities must be >= 0. "
            f"If these are logits or log-probabilities, use kl_logits or exponentiate first."
        )
    s = xp.sum(x, axis=axis)
    if not _any(be, xp.abs(s - 1.0) > tol):
        return
    a = to_numpy(be, x)
    s = np.sum(a, axis=axis, dtype=np.float64)
    bad = np.abs(s - 1.0) > tol
    if not np.any(bad):  # pragma: no cover - only rounding in a low-precision sum
        return
    if np.ndim(s) == 0:
        prefix = f"{name} sums to {float(s):.6g}"
    else:
        idx = np.argwhere(bad)[0]
        prefix = f"{_slice_word(axis, a.ndim)} {_where(idx)} of {name} sums to {float(s[tuple(idx)]):.6g}"
    raise ValueError(
        f"{prefix}, not 1 (along axis {shown}; tolerance {tol:g} for {_dtype_name(be.out_dtype)}): "
        f"normalise with {_sum_hint(be, name, shown)}"
        + (", or pass axis=... if the distributions lie along another axis." if np.ndim(s) else ".")
    )


def check_logits(be, x, name, axis, shown_axis=None):
    """Finite or -inf (probability 0), and at least one finite logit per distribution."""
    if not be.checkable:
        return
    xp = be.xp
    shown = axis if shown_axis is None else shown_axis
    a = numpy_view(be, x)
    if a is not None and a.size:
        with np.errstate(all="ignore"):
            if bool(np.all(np.isfinite(a.max(axis=axis)))):  # NaN, +inf and all -inf rows are not finite
                return
    check_finite(be, x, name, allow="-inf")
    allneg = xp.all(x == -math.inf, axis=axis)
    if not _any(be, allneg):
        return
    allneg = to_numpy(be, allneg)
    if np.ndim(allneg) == 0:
        loc = name
    else:
        loc = f"{_slice_word(axis, x.ndim)} {_where(np.argwhere(allneg)[0])} of {name}"
    raise ValueError(
        f"{loc} is -inf everywhere (along axis {shown}): that gives every outcome probability 0, "
        f"which is not a distribution. At least one logit must be finite."
    )


def check_positive(be, x, name, what="a standard deviation"):
    if not be.checkable:
        return
    check_finite(be, x, name)
    if not _any(be, ~(x > 0)):
        return
    a = to_numpy(be, x)
    bad = ~(a > 0)
    idx = np.argwhere(bad)[0] if a.ndim else ()
    val = a[tuple(idx)] if a.ndim else a
    raise ValueError(
        f"{_entry(name, idx)} = {float(val):.6g}, but {name} is {what} and must be > 0. "
        f"If you have a variance, pass its square root; if you have a log-variance, use exp(logvar / 2)."
    )


def check_base(base):
    """``None`` (nats) or a real number > 0 and != 1; returns the divisor log(base) or None."""
    if base is None:
        return None
    if isinstance(base, bool) or not isinstance(base, numbers.Real):
        raise TypeError(f"base must be None (nats) or a number such as 2 (bits); got {type(base).__name__}.")
    b = float(base)
    if not math.isfinite(b) or b <= 0 or b == 1:
        raise ValueError(
            f"base={base!r} is not a valid logarithm base: it must be > 0 and != 1. "
            f"Use base=None (nats), base=2 (bits) or base=10 (bans)."
        )
    return math.log(b)
