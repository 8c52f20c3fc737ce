"""torch.func (grad, vmap, jacrev, hessian) on every torch-capable kllib function, with validate=True."""
from __future__ import annotations

import pytest
import torch
from torch.func import grad, hessian, jacrev, vmap

import kllib
from kllib.vocab import js_logits_chunked, kl_logits_chunked

D = torch.float64


def _probs(g, *shape):
    return torch.softmax(torch.randn(*shape, generator=g, dtype=D), -1)


def _cases():
    """(name, f(x) -> scalar for one input vector x of size 4, x0)."""
    g = torch.Generator().manual_seed(0)
    q = _probs(g, 4)
    z = torch.randn(4, generator=g, dtype=D)
    cov = torch.eye(2, dtype=D) + 0.3
    return [
        ("entropy", lambda x: kllib.entropy(torch.softmax(x, -1))),
        ("cross_entropy", lambda x: kllib.cross_entropy(torch.softmax(x, -1), q)),
        ("kl", lambda x: kllib.kl(torch.softmax(x, -1), q)),
        ("kl_logits", lambda x: kllib.kl_logits(x, z)),
        ("js", lambda x: kllib.js(torch.softmax(x, -1), q)),
        ("js_distance", lambda x: kllib.js_distance(torch.softmax(x, -1), q)),
        ("tv", lambda x: kllib.tv(torch.softmax(x, -1), q)),
        ("hellinger", lambda x: kllib.hellinger(torch.softmax(x, -1), q)),
        ("renyi 0.5", lambda x: kllib.renyi(torch.softmax(x, -1), q, 0.5)),
        ("renyi 3", lambda x: kllib.renyi(torch.softmax(x, -1), q, 3.0)),
        ("renyi inf", lambda x: kllib.renyi(torch.softmax(x, -1), q, float("inf"))),
        ("kl_normal", lambda x: kllib.kl_normal(x, torch.exp(x), z, torch.exp(z)).sum()),
        ("kl_std_normal", lambda x: kllib.kl_std_normal(x, 0.5 * x)),
        ("kl_mvn", lambda x: kllib.kl_mvn(x[:2], cov * torch.exp(x[2]), x[2:], cov)),
        ("k1", lambda x: kllib.k1(x, z).mean()),
        ("k2", lambda x: kllib.k2(x, z).mean()),
        ("k3", lambda x: kllib.k3(x, z).mean()),
    ], z


CASES, Z = _cases()
IDS = [c[0] for c in CASES]


@pytest.mark.parametrize("name,f", CASES, ids=IDS)
def test_grad_matches_autograd(name, f):
    x = (0.3 * Z).clone()
    xr = x.clone().requires_grad_(True)
    f(xr).backward()
    torch.testing.assert_close(grad(f)(x), xr.grad)


@pytest.mark.parametrize("name,f", CASES, ids=IDS)
def test_vmap_matches_a_loop(name, f):
    xs = 0.3 * Z + 0.1 * torch.arange(3, dtype=D)[:, None]
    torch.testing.assert_close(vmap(f)(xs), torch.stack([f(x) for x in xs]))


@pytest.mark.parametrize("name,f", CASES, ids=IDS)
def test_jacrev_and_hessian(name, f):
    x = (0.3 * Z).clone()
    torch.testing.assert_close(jacrev(f)(x), grad(f)(x))
    h = hessian(f)(x)
    # against torch.autograd.functional.hessian (double backward through autograd)
    torch.testing.assert_close(h, torch.autograd.functional.hessian(f, x))


def test_validation_runs_under_grad_and_is_skipped_under_vmap():
    bad = torch.tensor([0.5, 0.6], dtype=D)
    q = torch.tensor([0.5, 0.5], dtype=D)
    with pytest.raises(ValueError, match="sums to"):
        grad(lambda p: kllib.kl(p, q))(bad)
    # under vmap the data-dependent checks are skipped (documented in kllib._xp); shapes still checked
    vmap(lambda p: kllib.kl(p, q))(torch.stack([bad, q]))
    with pytest.raises(ValueError, match="outcomes"):
        vmap(lambda p: kllib.kl(p, torch.ones(3, dtype=D) / 3))(torch.stack([bad, q]))


@pytest.mark.parametrize("fn", [kl_logits_chunked, js_logits_chunked])
def test_chunked_grad_and_jacrev(fn):
    g = torch.Generator().manual_seed(1)
    zp, zq = torch.randn(5, 7, generator=g, dtype=D), torch.randn(5, 7, generator=g, dtype=D)
    for argnums in (0, 1):
        ours = grad(lambda a, b: fn(a, b, chunk_size=2), argnums=argnums)(zp, zq)
        a, b = zp.clone().requires_grad_(True), zq.clone().requires_grad_(True)
        fn(a, b, chunk_size=2).backward()
        torch.testing.assert_close(ours, (a, b)[argnums].grad)
