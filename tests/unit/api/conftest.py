"""A small lake behind the real FastAPI app, shared by the API unit tests (read-only use)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from apidata import FakeState, load
from fastapi.testclient import TestClient

from promlake.api.app import create_app
from promlake.engine import Lake
from promlake.selfmon import Metrics


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeState]:
    lake = Lake(tmp_path_factory.mktemp("lake"))
    load(lake)
    yield FakeState(lake, Metrics(lake))
    lake.close()


@pytest.fixture(scope="module")
def client(state: FakeState) -> TestClient:
    return TestClient(create_app(state))
