"""Tests for the check of the chapter *Local geometry* (kllib.checks.local_geometry)."""
from __future__ import annotations

import doctest
import importlib

import numpy as np
import pytest
import torch

from kllib import checks
from kllib.checks import CheckError


def _p(z):
    z = np.asarray(z, dtype=float)
    e = np.exp(z - z.max())
    return e / e.sum()


def reference(z):
    p = _p(z)
    return np.diag(p) - np.outer(p, p)


def test_reference_passes(capsys):
    checks.fisher_softmax_exercise(reference)
    assert "all 7 checks passed" in capsys.readouterr().out


def test_torch_output_passes(capsys):
    def torch_version(z):
        p = torch.softmax(torch.as_tensor(z), -1)
        return torch.diag(p) - torch.outer(p, p)

    checks.fisher_softmax_exercise(torch_version)
    assert "checks passed" in capsys.readouterr().out


MISTAKES = {
    "only the diagonal": (lambda z: np.diag(_p(z)), "only the diagonal part"),
    "p p^T": (lambda z: np.outer(_p(z), _p(z)), "p pᵀ"),
    "wrong sign": (lambda z: np.diag(_p(z)) + np.outer(_p(z), _p(z)), "wrong sign"),
    "logits for probabilities": (lambda z: np.diag(z) - np.outer(z, z), "apply the softmax first"),
}


@pytest.mark.parametrize("name", MISTAKES)
def test_mistakes_are_named(name):
    fn, message = MISTAKES[name]
    with pytest.raises(CheckError, match=message):
        checks.fisher_softmax_exercise(fn)


def test_naive_softmax_overflows_and_is_caught():
    def naive(z):
        p = np.exp(z) / np.exp(z).sum()
        return np.diag(p) - np.outer(p, p)

    with np.errstate(all="ignore"), pytest.raises(CheckError, match="very large logits"):
        checks.fisher_softmax_exercise(naive)


def test_wrong_shape_is_explained():
    with pytest.raises(CheckError, match="expected a"):
        checks.fisher_softmax_exercise(lambda z: _p(z))


def test_reference_is_the_hessian_of_kl():
    from kllib.checks.local_geometry import _hessian_of_kl

    z = np.random.default_rng(0).normal(size=6)
    h = _hessian_of_kl(z)
    assert np.allclose(h, reference(z), atol=1e-12)
    assert np.allclose(h.sum(axis=1), 0, atol=1e-12)


def test_docstring_example_runs():
    result = doctest.testmod(importlib.import_module("kllib.checks.local_geometry"),
                             optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
