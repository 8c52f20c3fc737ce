"""Every precision and every documented promise (issue 12, part 2)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import kllib
from kllib.vocab import js_logits_chunked, kl_logits_chunked

P = [[0.2, 0.3, 0.5], [0.1, 0.1, 0.8]]
Q = [[0.6, 0.3, 0.1], [0.3, 0.3, 0.4]]

FUNCS = {
    "entropy": lambda p, q: kllib.entropy(p),
    "kl": kllib.kl,
    "cross_entropy": kllib.cross_entropy,
    "kl_logits": lambda p, q: kllib.kl_logits(p, q),
    "js": kllib.js,
    "tv": kllib.tv,
    "hellinger": kllib.hellinger,
    "renyi": lambda p, q: kllib.renyi(p, q, 3.0),
    "kl_normal": lambda p, q: kllib.kl_normal(p, q, q, p),
    "kl_std_normal": kllib.kl_std_normal,
    "k3": kllib.k3,
    "kl_mvn": lambda p, q: kllib.kl_mvn(p[..., :2], torch.eye(2, dtype=p.dtype) * (1 + p[..., :1, None]),
                                        q[..., :2], torch.eye(2, dtype=q.dtype)),
}


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("name", list(FUNCS))
def test_half_precision_works_and_keeps_dtype(name, dtype):
    p, q = torch.tensor(P, dtype=dtype), torch.tensor(Q, dtype=dtype)
    out = FUNCS[name](p, q)
    assert out.dtype == dtype
    pd, qd = p.double(), q.double()
    ref = FUNCS[name](pd / pd.sum(-1, keepdim=True), qd / qd.sum(-1, keepdim=True))
    torch.testing.assert_close(out.double(), ref, rtol=2e-2, atol=2e-3)


def test_numpy_half_precision():
    out = kllib.kl(np.array(P, dtype=np.float16), np.array(Q, dtype=np.float16))
    assert out.dtype == np.float16


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16, torch.float64])
@pytest.mark.parametrize("alpha", [1e30, 1e300, 1e6])
def test_huge_finite_alpha_no_nan(dtype, alpha):
    p, q = torch.tensor(P, dtype=dtype), torch.tensor(Q, dtype=dtype)
    out = kllib.renyi(p, q, alpha)
    assert not torch.isnan(out).any()
    torch.testing.assert_close(out.double(), kllib.renyi(p, q, math.inf).double(), rtol=1e-2, atol=1e-3)


def test_numpy_and_torch_agree_on_axis_tuple():
    mu, lv = np.ones((2, 3)), np.zeros((2, 3))
    np.testing.assert_allclose(kllib.kl_std_normal(torch.tensor(mu), torch.tensor(lv), axis=()).numpy(),
                               kllib.kl_std_normal(mu, lv, axis=()))
    assert kllib.kl_std_normal(mu, lv, axis=()).shape == (2, 3)


@pytest.mark.parametrize("bad", [1, 0, "yes", None, np.int64(1)])
def test_every_validate_argument_is_checked(bad):
    z = torch.zeros(2, 3)
    for call in (lambda: kllib.kl(P, Q, validate=bad), lambda: kllib.kl_normal(0.0, 1.0, 0.0, 1.0, validate=bad),
                 lambda: kllib.k3([0.0], [0.0], validate=bad),
                 lambda: kl_logits_chunked(z, z, validate=bad), lambda: js_logits_chunked(z, z, validate=bad)):
        with pytest.raises(TypeError, match="validate must be True or False"):
            call()


def test_list_of_tensors_is_a_clear_error():
    a = torch.tensor(0.5, requires_grad=True)
    with pytest.raises(TypeError, match="torch.stack"):
        kllib.kl([a, 1 - a], [0.5, 0.5])
    with pytest.raises(TypeError, match="torch.stack"):
        kllib.kl_std_normal([torch.zeros(2), torch.zeros(2)], torch.zeros(2, 2))


def test_import_kllib_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, kllib; kllib.kl([0.5, 0.5], [0.9, 0.1]); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"
