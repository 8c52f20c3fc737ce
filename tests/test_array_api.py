"""Any array-API library in, the same library out (issue 12): array-api-strict, and JAX on CPU."""
from __future__ import annotations

import numpy as np
import pytest

import kllib

xps = [pytest.param("array_api_strict", id="array-api-strict"), pytest.param("jax.numpy", id="jax")]


def _xp(name):
    if name == "jax.numpy":
        jax = pytest.importorskip("jax")
        jax.config.update("jax_enable_x64", True)
        return jax.numpy
    return pytest.importorskip(name)


def _np(x):
    return np.asarray(x)


P = np.array([[0.2, 0.3, 0.5], [0.1, 0.1, 0.8]])
Q = np.array([[0.6, 0.3, 0.1], [0.3, 0.3, 0.4]])
Z = np.log(P) + 0.3


def _calls():
    return {
        "entropy": (lambda a, b, c: kllib.entropy(a), lambda: kllib.entropy(P)),
        "cross_entropy": (lambda a, b, c: kllib.cross_entropy(a, b), lambda: kllib.cross_entropy(P, Q)),
        "kl": (lambda a, b, c: kllib.kl(a, b), lambda: kllib.kl(P, Q)),
        "kl_logits": (lambda a, b, c: kllib.kl_logits(c, b * 0), lambda: kllib.kl_logits(Z, Q * 0)),
        "js": (lambda a, b, c: kllib.js(a, b, base=2), lambda: kllib.js(P, Q, base=2)),
        "js_distance": (lambda a, b, c: kllib.js_distance(a, b), lambda: kllib.js_distance(P, Q)),
        "tv": (lambda a, b, c: kllib.tv(a, b), lambda: kllib.tv(P, Q)),
        "hellinger": (lambda a, b, c: kllib.hellinger(a, b), lambda: kllib.hellinger(P, Q)),
        "renyi 0.5": (lambda a, b, c: kllib.renyi(a, b, 0.5), lambda: kllib.renyi(P, Q, 0.5)),
        "renyi 2": (lambda a, b, c: kllib.renyi(a, b, 2), lambda: kllib.renyi(P, Q, 2)),
        "renyi 0": (lambda a, b, c: kllib.renyi(a, b, 0), lambda: kllib.renyi(P, Q, 0)),
        "renyi inf": (lambda a, b, c: kllib.renyi(a, b, np.inf), lambda: kllib.renyi(P, Q, np.inf)),
        "kl_normal": (lambda a, b, c: kllib.kl_normal(c, a, 0.0, b), lambda: kllib.kl_normal(Z, P, 0.0, Q)),
        "kl_std_normal": (lambda a, b, c: kllib.kl_std_normal(c, a), lambda: kllib.kl_std_normal(Z, P)),
        "k1": (lambda a, b, c: kllib.k1(c, a), lambda: kllib.k1(Z, P)),
        "k2": (lambda a, b, c: kllib.k2(c, a), lambda: kllib.k2(Z, P)),
        "k3": (lambda a, b, c: kllib.k3(c, a), lambda: kllib.k3(Z, P)),
    }


CALLS = _calls()


@pytest.mark.parametrize("lib", xps)
@pytest.mark.parametrize("name", list(CALLS))
def test_same_library_out_and_numpy_values(lib, name):
    xp = _xp(lib)
    f, ref = CALLS[name]
    out = f(xp.asarray(P), xp.asarray(Q), xp.asarray(Z))
    assert type(out).__module__.split(".")[0] == type(xp.asarray(P)).__module__.split(".")[0]
    np.testing.assert_allclose(_np(out), ref(), rtol=1e-12)


@pytest.mark.parametrize("lib", xps)
def test_kl_mvn(lib):
    xp = _xp(lib)
    rng = np.random.default_rng(0)
    A = rng.standard_normal((2, 3, 3))
    cp = A @ np.swapaxes(A, -1, -2) + np.eye(3)
    cq = cp[::-1] + 0.5 * np.eye(3)
    mp, mq = rng.standard_normal((2, 3)), rng.standard_normal(3)
    out = kllib.kl_mvn(xp.asarray(mp), xp.asarray(cp), xp.asarray(mq), xp.asarray(cq))
    np.testing.assert_allclose(_np(out), kllib.kl_mvn(mp, cp, mq, cq), rtol=1e-10)


@pytest.mark.parametrize("lib", xps)
def test_validation_messages_are_the_numpy_ones(lib):
    xp = _xp(lib)
    with pytest.raises(ValueError, match="row 1 of p sums to 1.1"):
        kllib.kl(xp.asarray([[0.5, 0.5], [0.6, 0.5]]), xp.asarray([0.5, 0.5]))
    with pytest.raises(ValueError, match=r"p\[1\] = -0.1 is negative"):
        kllib.kl(xp.asarray([1.1, -0.1]), xp.asarray([0.5, 0.5]))
    with pytest.raises(ValueError, match="not positive definite"):
        kllib.kl_mvn(xp.asarray([0.0, 0.0]), xp.asarray([[1.0, 2.0], [2.0, 1.0]]), xp.asarray([0.0, 0.0]),
                     xp.asarray([[1.0, 0.0], [0.0, 1.0]]))


def test_float32_stays_float32():
    xs = pytest.importorskip("array_api_strict")
    out = kllib.kl(xs.asarray(P, dtype=xs.float32), Q)
    assert out.dtype == xs.float32


def test_mixing_torch_and_another_library_is_a_clear_error():
    xs = pytest.importorskip("array_api_strict")
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError, match="one library"):
        kllib.kl(torch.tensor([0.5, 0.5]), xs.asarray([0.5, 0.5]))
