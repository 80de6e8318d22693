"""One Prometheus 2.42 and one promlake lake with the same data, for the whole session."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import promlake
from benchmarks.prom_side import PROMETHEUS, PROMTOOL, PrometheusServer, block_range_ms, create_blocks

from .data import END_MS, START_MS, generate, load_into_lake, write_openmetrics
from .sides import PROM_FLAGS, PrometheusClient, PromlakeClient


@dataclass
class Sides:
    prometheus: PrometheusClient
    promlake: PromlakeClient


def _require_binaries() -> None:
    missing = [b for b in (PROMETHEUS, PROMTOOL) if not Path(b).exists()]
    if missing:
        pytest.fail(
            f"{', '.join(missing)} not found: the differential tests compare promlake with the real "
            "Prometheus 2.42 from Debian's `prometheus` package (`apt-get install prometheus`; "
            ".ci/run installs it). They do not skip without it.",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def sides(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sides]:
    _require_binaries()
    root = tmp_path_factory.mktemp("differential")
    ds = generate()
    om = root / "data.om"
    n = write_openmetrics(ds, om)
    data_dir = root / "prometheus" / "data"
    data_dir.mkdir(parents=True)
    blocks = create_blocks(om, data_dir, block_range_ms(END_MS - START_MS))
    assert blocks["samples"] == n, f"promtool made blocks of {blocks['samples']} samples, {n} were written"
    with contextlib.ExitStack() as stack:
        # Prometheus is terminated and waited for by the server's __exit__, whatever happens.
        server = stack.enter_context(PrometheusServer(root / "prometheus", extra_args=PROM_FLAGS))
        lake = stack.enter_context(promlake.open(root / "lake"))
        assert load_into_lake(ds, lake) == n
        prom = PrometheusClient(server.port)
        stack.callback(prom.close)
        yield Sides(prom, PromlakeClient(lake.engine))
