"""Options shared by every test folder (this conftest is always loaded: it is the top one)."""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

# Property tests draw the same examples on every run, so a CI result reproduces anywhere;
# HYPOTHESIS_PROFILE=explore draws fresh ones (run it when changing a decoder or parser).
settings.register_profile("reproducible", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "reproducible"))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite golden files (tests/unit/promql/golden/) instead of comparing with them; "
        "PROMLAKE_UPDATE_GOLDEN=1 does the same",
    )
