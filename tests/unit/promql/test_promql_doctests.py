"""The examples in promql2sql's docstrings run, imported under their package name."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["", ".durations", ".parser", ".printer", ".series"]


@pytest.mark.parametrize("suffix", MODULES)
def test_docstring_examples(suffix: str) -> None:
    module = importlib.import_module("promlake.promql2sql" + suffix)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
