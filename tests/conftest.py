"""Options shared by every test folder (this conftest is always loaded: it is the top one)."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite golden files (tests/unit/promql/golden/) instead of comparing with them; "
        "PROMLAKE_UPDATE_GOLDEN=1 does the same",
    )
