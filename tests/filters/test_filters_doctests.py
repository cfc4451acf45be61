"""The Examples sections of the filter modules run and give what they show."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "geobayes.filters",
    "geobayes.filters.api",
    "geobayes.filters.methods",
    "geobayes.filters.models",
    "geobayes.filters.configs",
    "geobayes.filters.ssm",
    "geobayes.filters.kalman",
    "geobayes.filters._localization",
    "geobayes.math.resampling",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
    if name in ("geobayes.filters.api", "geobayes.filters.methods", "geobayes.filters.models"):
        assert result.attempted > 0
