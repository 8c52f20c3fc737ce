"""torch.compile runs the core functions and gives the eager results (graph breaks allowed).

Compiling is slow on a 2-core machine, so most functions use backend="aot_eager" (traces through
dynamo and AOTAutograd, no code generation) and one uses the default inductor backend.
"""
from __future__ import annotations

import pytest
import torch

import kllib

D = torch.float64


def _inputs():
    g = torch.Generator().manual_seed(0)
    p = torch.softmax(torch.randn(3, 5, generator=g, dtype=D), -1)
    q = torch.softmax(torch.randn(3, 5, generator=g, dtype=D), -1)
    z = torch.randn(3, 5, generator=g, dtype=D)
    return p, q, z


CASES = {
    "kl": lambda p, q, z: kllib.kl(p, q),
    "js": lambda p, q, z: kllib.js(p, q),
    "kl_logits": lambda p, q, z: kllib.kl_logits(z, z.flip(0)),
    "renyi": lambda p, q, z: kllib.renyi(p, q, 2.0),
    "kl_std_normal": lambda p, q, z: kllib.kl_std_normal(z, 0.5 * z),
    "kl_normal": lambda p, q, z: kllib.kl_normal(z, p, 0.0, q),
    "k3": lambda p, q, z: kllib.k3(z, 0.9 * z),
}


@pytest.mark.parametrize("name", list(CASES))
def test_aot_eager_matches_eager(name):
    torch._dynamo.reset()
    f = CASES[name]
    p, q, z = _inputs()
    zz = z.clone().requires_grad_(True)
    out = torch.compile(f, backend="aot_eager")(p, q, zz)
    torch.testing.assert_close(out, f(p, q, z))
    if not out.requires_grad:  # a function of p and q only
        return
    out.sum().backward()
    z2 = z.clone().requires_grad_(True)
    f(p, q, z2).sum().backward()
    torch.testing.assert_close(zz.grad, z2.grad)


def test_inductor_kl_std_normal():
    torch._dynamo.reset()
    mu = torch.randn(64, 8)
    lv = 0.3 * torch.randn(64, 8)
    f = torch.compile(lambda m, v: kllib.kl_std_normal(m, v, validate=False).mean())
    torch.testing.assert_close(f(mu, lv), kllib.kl_std_normal(mu, lv).mean())
