"""kllib.knn.kl_knn against Gaussian closed forms, within its measured error.

The spread was measured first (300 seeds, n = m = 1000, error = estimate - closed form):

    case                                   k   bias      sd      max |err|
    N(0,1) vs N(1,1),      KL 0.500        1   +0.001   0.085    0.28
                                           5   -0.018   0.048    0.18
    N(0,1) vs N(0,1),      KL 0            1   +0.001   0.066    0.19
                                           5   -0.000   0.023    0.09
    N(0,1) vs N(0.5,2^2),  KL 0.349        1   +0.005   0.076    0.22
                                           5   +0.004   0.039    0.13
    2-D corr. 0.8 vs N((.5,0), 1.5 I), KL 0.666  1  +0.002  0.081   0.25
                                           5   +0.010   0.048    0.14

The tests average R = 20 seeds and allow 4 standard errors of that average, 4 * sd / sqrt(R),
plus the measured bias; a single run is allowed 5 sd.
"""
import math

import numpy as np
import pytest
import torch

from kllib import kl_knn, kl_mvn, kl_normal

N = 1000
R = 20
COV_P = np.array([[1.0, 0.8], [0.8, 1.0]])
COV_Q = 1.5 * np.eye(2)
MU_Q = np.array([0.5, 0.0])


def shift(rng):
    return rng.normal(0, 1, N), rng.normal(1, 1, N)


def equal(rng):
    return rng.normal(0, 1, N), rng.normal(0, 1, N)


def scale(rng):
    return rng.normal(0, 1, N), rng.normal(0.5, 2, N)


def corr2d(rng):
    return rng.multivariate_normal([0, 0], COV_P, N), rng.multivariate_normal(MU_Q, COV_Q, N)


CASES = {  # name: (sampler, closed form, {k: (measured bias, measured sd)})
    "shift": (shift, float(kl_normal(0, 1, 1, 1)), {1: (0.001, 0.085), 5: (-0.018, 0.048)}),
    "equal": (equal, 0.0, {1: (0.001, 0.066), 5: (0.0, 0.023)}),
    "scale": (scale, float(kl_normal(0, 1, 0.5, 2)), {1: (0.005, 0.076), 5: (0.004, 0.039)}),
    "corr2d": (corr2d, float(kl_mvn(np.zeros(2), COV_P, MU_Q, COV_Q)), {1: (0.002, 0.081), 5: (0.010, 0.048)}),
}


def test_closed_forms():
    assert math.isclose(CASES["shift"][1], 0.5)
    assert math.isclose(CASES["scale"][1], math.log(2) + (1 + 0.25) / 8 - 0.5)


@pytest.mark.parametrize("k", [1, 5])
@pytest.mark.parametrize("case", list(CASES))
def test_gaussian_closed_form_within_measured_error(case, k):
    sampler, true, spread = CASES[case]
    bias, sd = spread[k]
    estimates = np.array([kl_knn(*sampler(np.random.default_rng(1000 + s)), k=k) for s in range(R)])
    assert np.all(np.abs(estimates - true) < abs(bias) + 5 * sd), (case, k, estimates - true)
    assert abs(estimates.mean() - true) < abs(bias) + 4 * sd / math.sqrt(R), (case, k, estimates.mean(), true)


def test_larger_k_has_smaller_spread():
    e1 = [kl_knn(*shift(np.random.default_rng(s)), k=1) for s in range(R)]
    e5 = [kl_knn(*shift(np.random.default_rng(s)), k=5) for s in range(R)]
    assert np.std(e5) < np.std(e1)


def test_consistency_error_shrinks_with_n():
    rng = np.random.default_rng(7)
    big = [abs(kl_knn(rng.normal(0, 1, 20_000), rng.normal(1, 1, 20_000), k=5) - 0.5) for _ in range(3)]
    assert max(big) < 0.06   # sd at n = 20 000 is about 0.048 / sqrt(20) ~ 0.011


def test_invariances_are_exact():
    rng = np.random.default_rng(3)
    x, y = corr2d(rng)
    base = kl_knn(x, y, k=3)
    shift_vec = np.array([10.0, -4.0])
    assert math.isclose(kl_knn(x + shift_vec, y + shift_vec, k=3), base, rel_tol=1e-9)
    assert math.isclose(kl_knn(7.0 * x, 7.0 * y, k=3), base, rel_tol=1e-9)     # KL is invariant too
    rot = np.array([[0.6, -0.8], [0.8, 0.6]])
    assert math.isclose(kl_knn(x @ rot.T, y @ rot.T, k=3), base, rel_tol=1e-9)


def test_shapes_dtypes_and_torch():
    rng = np.random.default_rng(4)
    x, y = shift(rng)
    v = kl_knn(x, y)
    assert isinstance(v, float)
    assert kl_knn(x[:, None], y[:, None]) == v
    assert kl_knn(list(x), list(y)) == v
    assert math.isclose(kl_knn(torch.tensor(x), torch.tensor(y)), v)
    assert math.isclose(kl_knn(torch.tensor(x, requires_grad=True), torch.tensor(y)), v)


def test_sample_size_correction():
    # log(m / (n - 1)): a larger Q sample makes nu smaller; the correction keeps the estimate honest
    rng = np.random.default_rng(5)
    ests = [kl_knn(rng.normal(0, 1, 500), rng.normal(0, 1, 5000), k=5) for _ in range(10)]
    assert abs(np.mean(ests)) < 0.05


@pytest.mark.parametrize("bad_k, err", [(0, ValueError), (-1, ValueError), (1.5, TypeError), (True, TypeError)])
def test_bad_k(bad_k, err):
    with pytest.raises(err, match="k must"):
        kl_knn(np.arange(5.0), np.arange(5.0) + 0.5, k=bad_k)


def test_errors():
    with pytest.raises(ValueError, match="same dimension"):
        kl_knn(np.zeros((5, 2)) + np.arange(5)[:, None], np.ones((5, 3)))
    with pytest.raises(ValueError, match="at least k \\+ 1 = 4 samples of P"):
        kl_knn([0.0, 1.0, 2.0], [0.5, 1.5, 2.5], k=3)
    with pytest.raises(ValueError, match="at least k = 3 samples of Q"):
        kl_knn([0.0, 1.0, 2.0, 3.0], [0.5, 1.5], k=3)
    with pytest.raises(ValueError, match="shape"):
        kl_knn(np.zeros((2, 2, 2)), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="nan or inf"):
        kl_knn([0.0, np.nan, 1.0], [0.5, 1.5])
    with pytest.raises(TypeError, match="numbers"):
        kl_knn(["a", "b"], ["c", "d"])


def test_duplicates_raise_and_say_how_to_fix():
    with pytest.raises(ValueError, match="duplicate points.*add tiny noise"):
        kl_knn([0.0, 0.0, 1.0, 2.0], [0.3, 1.7, 2.5])
    with pytest.raises(ValueError, match="among y"):
        kl_knn([0.0, 1.0, 2.0], [1.0, 5.0])
    # raising k above the multiplicity is the documented way out
    assert np.isfinite(kl_knn([0.0, 0.0, 1.0, 2.0, 3.5], [0.3, 1.7, 2.5, 4.0], k=2))


def test_doctests():
    import doctest

    import kllib.knn

    result = doctest.testmod(kllib.knn, optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS, verbose=False)
    assert result.failed == 0 and result.attempted > 0
