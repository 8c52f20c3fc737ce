"""Run the doctests of the kllib core modules, so every docstring example is checked by pytest."""
import doctest
import importlib

import pytest

MODULES = ["kllib", "kllib._xp", "kllib.discrete", "kllib.divergences", "kllib.gaussian", "kllib.estimators"]


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS, verbose=False)
    assert result.failed == 0, f"{result.failed} doctest(s) failed in {name}"
    if name != "kllib._xp":
        assert result.attempted > 0, f"{name} has no doctest examples"
