"""kllib.information: mutual information, joint and conditional entropy against scikit-learn and the identities."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import mutual_info_score

import kllib
from kllib import conditional_entropy, entropy, joint_entropy, mutual_information


def random_joint(rng, nx, ny, zero_frac=0.2):
    """A joint table with some exact zeros (never all zero)."""
    t = rng.dirichlet(np.full(nx * ny, 0.6)).reshape(nx, ny)
    t[rng.random((nx, ny)) < zero_frac] = 0.0
    if t.sum() == 0:
        t[0, 0] = 1.0
    return t / t.sum()


# ------------------------------------------------------------------------ against scikit-learn
@pytest.mark.parametrize("seed", range(8))
def test_matches_sklearn_on_contingency_tables(seed):
    rng = np.random.default_rng(seed)
    counts = rng.integers(0, 20, size=(rng.integers(2, 7), rng.integers(2, 7)))
    counts[0, 0] += 1
    expected = mutual_info_score(None, None, contingency=counts)
    got = mutual_information(counts / counts.sum())
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


def test_matches_sklearn_on_labels():
    rng = np.random.default_rng(7)
    x = rng.integers(0, 4, size=5000)
    y = (x + rng.integers(0, 2, size=5000)) % 5            # a noisy function of x
    table = np.zeros((4, 5))
    np.add.at(table, (x, y), 1)
    np.testing.assert_allclose(mutual_information(table / table.sum()), mutual_info_score(x, y), rtol=1e-10)


# ----------------------------------------------------------------------------------- identities
@given(seed=st.integers(0, 2**32 - 1), nx=st.integers(1, 6), ny=st.integers(1, 6))
@settings(max_examples=60, deadline=None)
def test_entropy_identities(seed, nx, ny):
    p = random_joint(np.random.default_rng(seed), nx, ny)
    hx, hy, hxy = entropy(p.sum(1)), entropy(p.sum(0)), joint_entropy(p)
    mi = mutual_information(p)
    assert mi >= 0
    np.testing.assert_allclose(mi, hx + hy - hxy, atol=1e-12)
    np.testing.assert_allclose(mi, hx - conditional_entropy(p.T), atol=1e-12)      # I = H(X) - H(X|Y)
    np.testing.assert_allclose(mi, hy - conditional_entropy(p), atol=1e-12)        # I = H(Y) - H(Y|X)
    np.testing.assert_allclose(hxy, hx + conditional_entropy(p), atol=1e-12)       # chain rule
    np.testing.assert_allclose(mutual_information(p.T), mi, atol=1e-12)            # symmetric
    assert mi <= min(hx, hy) + 1e-12
    assert max(hx, hy) - 1e-12 <= hxy <= hx + hy + 1e-12


@pytest.mark.parametrize("seed", range(5))
def test_zero_for_product_tables(seed):
    rng = np.random.default_rng(seed)
    px, py = rng.dirichlet(np.ones(4)), rng.dirichlet(np.ones(6))
    px[1] = 0.0
    px /= px.sum()
    p = np.outer(px, py)
    mi = mutual_information(p)
    assert mi >= 0 and mi < 1e-14
    np.testing.assert_allclose(joint_entropy(p), entropy(px) + entropy(py), atol=1e-12)
    np.testing.assert_allclose(conditional_entropy(p), entropy(py), atol=1e-12)


def test_identity_channel_and_function():
    p = np.diag([0.5, 0.25, 0.25])                         # Y = X
    np.testing.assert_allclose(mutual_information(p, base=2), 1.5)
    assert conditional_entropy(p) == 0.0


def test_base_2_and_bsc_closed_form():
    for eps in (0.0, 0.1, 0.25, 0.5):
        bsc = 0.5 * np.array([[1 - eps, eps], [eps, 1 - eps]])
        h = float(entropy([eps, 1 - eps], base=2))
        np.testing.assert_allclose(mutual_information(bsc, base=2), 1 - h, atol=1e-12)
        np.testing.assert_allclose(mutual_information(bsc, base=2), mutual_information(bsc) / np.log(2))
        np.testing.assert_allclose(conditional_entropy(bsc, base=2), h, atol=1e-12)


def test_mi_is_kl_from_the_product():
    p = random_joint(np.random.default_rng(3), 3, 4)
    prod = np.outer(p.sum(1), p.sum(0))
    np.testing.assert_allclose(mutual_information(p), kllib.kl(p.ravel(), prod.ravel()), rtol=1e-12)


def test_batches_and_lists():
    rng = np.random.default_rng(11)
    batch = np.stack([random_joint(rng, 3, 2) for _ in range(6)]).reshape(2, 3, 3, 2)
    got = mutual_information(batch)
    assert got.shape == (2, 3)
    np.testing.assert_allclose(got[1, 2], mutual_information(batch[1, 2]))
    assert joint_entropy(batch).shape == (2, 3) and conditional_entropy(batch).shape == (2, 3)
    out = mutual_information([[0.5, 0.0], [0.0, 0.5]])
    assert isinstance(out, np.floating) and out.dtype == np.float64
    np.testing.assert_allclose(out, np.log(2))


def test_float32_is_kept():
    p = np.array([[0.4, 0.1], [0.1, 0.4]], dtype=np.float32)
    assert mutual_information(p).dtype == np.float32


# ------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("bad, match", [
    ([0.5, 0.5], "two axes"),
    ([[0.5, 0.6], [0.1, 0.1]], "sums to 1.3"),
    ([[3, 1], [2, 4]], "contingency"),
    ([[0.5, -0.1], [0.3, 0.3]], "negative"),
    ([[0.5, np.nan], [0.25, 0.25]], "NaN"),
    ([[0.5, np.inf], [0.25, 0.25]], "NaN or infinite"),
])
def test_bad_values_raise_value_error(bad, match):
    with pytest.raises(ValueError, match=match):
        mutual_information(np.asarray(bad, dtype=float))


@pytest.mark.parametrize("bad", ["ab", {"a": 1}, None, np.array([["a", "b"]]), np.ones((2, 2), complex) / 4])
def test_non_numeric_raises_type_error(bad):
    with pytest.raises(TypeError):
        mutual_information(bad)


def test_bad_base_and_validate():
    p = np.full((2, 2), 0.25)
    with pytest.raises(ValueError):
        mutual_information(p, base=1)
    with pytest.raises(ValueError):
        mutual_information(p, base=-2)
    with pytest.raises(TypeError):
        mutual_information(p, validate="yes")
    assert mutual_information(p, validate=False) == 0.0


@pytest.mark.parametrize("fn", [mutual_information, joint_entropy, conditional_entropy])
def test_every_function_validates(fn):
    with pytest.raises(ValueError, match="sums to"):
        fn(np.full((2, 2), 0.3))


# ----------------------------------------------------------------------------------------- torch
def test_torch_matches_numpy_and_is_differentiable():
    p_np = random_joint(np.random.default_rng(5), 3, 4, zero_frac=0.0)
    logits = torch.tensor(np.log(p_np).ravel(), requires_grad=True)
    p = torch.softmax(logits, 0).reshape(3, 4)
    mi = mutual_information(p)
    assert isinstance(mi, torch.Tensor) and mi.dtype == torch.float64
    np.testing.assert_allclose(mi.item(), mutual_information(p_np), rtol=1e-12)
    (g,) = torch.autograd.grad(mi, logits)
    assert torch.isfinite(g).all() and g.abs().sum() > 0

    def f(z):
        return mutual_information(torch.softmax(z, 0).reshape(3, 4))

    assert torch.autograd.gradcheck(f, (logits.detach().clone().requires_grad_(True),))


def test_torch_gradient_finite_with_zeros():
    p = torch.tensor([[0.5, 0.0], [0.1, 0.4]], dtype=torch.float64, requires_grad=True)
    for fn in (mutual_information, joint_entropy, conditional_entropy):
        (g,) = torch.autograd.grad(fn(p), p)
        assert torch.isfinite(g).all()


def test_torch_gradient_matches_analytic():
    # dI/dp(x,y) = log p(x,y) / (p(x) p(y)) - 1 for an unconstrained table (Cover & Thomas, eq. 2.28 differentiated)
    p = torch.tensor([[0.3, 0.2], [0.1, 0.4]], dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(mutual_information(p), p)
    px, py = p.detach().sum(1, keepdim=True), p.detach().sum(0, keepdim=True)
    expected = torch.log(p.detach() / (px * py)) - 1
    torch.testing.assert_close(g, expected)


def test_torch_float32_and_validation():
    p = torch.tensor([[0.4, 0.1], [0.1, 0.4]])
    assert mutual_information(p).dtype == torch.float32
    with pytest.raises(ValueError, match="sums to"):
        mutual_information(p * 2)


def test_docstring_examples_run():
    import doctest

    import kllib.information

    result = doctest.testmod(kllib.information, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 4 and result.failed == 0
