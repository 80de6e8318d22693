"""The Pushgateway API inside the server: push semantics, persistence, ingestion rounds."""

from __future__ import annotations

import base64
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from fastapi.testclient import TestClient

from promlake import config as cfg
from promlake.api.app import create_app
from promlake.api.pushgateway import decode_base64, grouping_key
from promlake.engine import Lake
from promlake.engine.blocks import STALE_BITS
from promlake.ingest.pushgateway import PushStore, go_float
from promlake.selfmon import Metrics


@dataclass
class State:
    lake: Lake
    metrics: Metrics
    pushgateway: PushStore
    ready: bool = True
    lifecycle_enabled: bool = False
    config: cfg.Config = field(default_factory=lambda: cfg.load("global:\n  scrape_interval: 15s\n"))
    opts: SimpleNamespace = field(
        default_factory=lambda: SimpleNamespace(
            flags={}, retention_ms=15 * 86_400_000, retention_bytes=None, lookback_delta_ms=300_000
        )
    )

    def reload(self) -> None:
        pass

    def quit(self) -> None:
        pass


@pytest.fixture
def lake(tmp_path: Path) -> Iterator[Lake]:
    lk = Lake(tmp_path / "lake")
    yield lk
    lk.close()


@pytest.fixture
def state(lake: Lake) -> State:
    return State(lake, Metrics(lake), PushStore(lake.root))


@pytest.fixture
def client(state: State) -> TestClient:
    return TestClient(create_app(state))


def exposed(store: PushStore) -> dict[tuple[tuple[str, str], ...], float]:
    """What the gateway would expose for pushed samples: labels -> value."""
    out = {}
    for labels, value in zip(
        store.table.column("labels").to_pylist(), store.table.column("value").to_pylist(), strict=True
    ):
        out[tuple(sorted((k, v) for k, v in labels if v != ""))] = value
    return out


def key(**labels: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))


def test_put_post_delete(client: TestClient, state: State) -> None:
    store = state.pushgateway
    r = client.put("/metrics/job/j1/instance/i1", content=b'# TYPE a gauge\na 1\nb{x="1"} 2\n')
    assert r.status_code == 200 and r.content == b""
    assert exposed(store) == {
        key(__name__="a", job="j1", instance="i1"): 1.0,
        key(__name__="b", job="j1", instance="i1", x="1"): 2.0,
    }
    # POST replaces only the families it pushes.
    assert client.post("/metrics/job/j1/instance/i1", content=b"a 5\nc 3\n").status_code == 200
    assert exposed(store) == {
        key(__name__="a", job="j1", instance="i1"): 5.0,
        key(__name__="b", job="j1", instance="i1", x="1"): 2.0,
        key(__name__="c", job="j1", instance="i1"): 3.0,
    }
    # PUT replaces the whole group; other groups stay.
    assert client.put("/metrics/job/j2", content=b"a 7\n").status_code == 200
    assert client.put("/metrics/job/j1/instance/i1", content=b"d 4\n").status_code == 200
    assert exposed(store) == {
        key(__name__="d", job="j1", instance="i1"): 4.0,
        key(__name__="a", job="j2"): 7.0,
    }
    r = client.delete("/metrics/job/j1/instance/i1")
    assert r.status_code == 202 and r.content == b""
    assert exposed(store) == {key(__name__="a", job="j2"): 7.0}
    assert client.delete("/metrics/job/never").status_code == 202
    assert list(store.groups) == [key(job="j2")]


def test_empty_put_and_post_keep_the_group(client: TestClient, state: State) -> None:
    client.put("/metrics/job/j", content=b"a 1\n")
    t0 = state.pushgateway.groups[key(job="j")].push_time
    assert client.post("/metrics/job/j", content=b"").status_code == 200
    assert exposed(state.pushgateway) == {key(__name__="a", job="j"): 1.0}
    assert client.put("/metrics/job/j", content=b"").status_code == 200
    assert exposed(state.pushgateway) == {}
    assert state.pushgateway.groups[key(job="j")].push_time >= t0


def test_grouping_key_overrides_pushed_labels(client: TestClient, state: State) -> None:
    body = b'a{job="x",instance="i",foo="b",bar="keep"} 1\n'
    assert client.put("/metrics/job/j2/foo/bar", content=body).status_code == 200
    assert exposed(state.pushgateway) == {
        key(__name__="a", job="j2", foo="bar", instance="i", bar="keep"): 1.0
    }


def test_base64_segments(client: TestClient, state: State) -> None:
    job = base64.urlsafe_b64encode(b"foo/bar").decode().rstrip("=")
    assert (
        client.put(
            f"/metrics/job@base64/{job}/path@base64/L3Zhci90bXA=/e@base64/=", content=b"a 1\n"
        ).status_code
        == 200
    )
    assert list(state.pushgateway.groups) == [key(job="foo/bar", path="/var/tmp", e="")]
    assert decode_base64("L3Zhci90bXA") == "/var/tmp" == decode_base64("L3Zhci90bXA=")
    assert decode_base64("=") == ""
    r = client.put("/metrics/job/j/foo@base64/!!", content=b"a 1\n")
    assert r.status_code == 400
    assert r.text == 'invalid base64 encoding for label foo="!!": illegal base64 data at input byte 0\n'


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/metrics/job@base64/=", "job name is required"),
        ("/metrics/job/j/foo", 'odd number of components in label string "/foo"'),
        ("/metrics/job/j/__x/1", 'improper label name "__x"'),
        ("/metrics/job/j/1x/1", 'improper label name "1x"'),
    ],
)
def test_bad_paths(client: TestClient, state: State, path: str, message: str) -> None:
    r = client.put(path, content=b"a 1\n")
    assert (r.status_code, r.text) == (400, message + "\n")
    assert state.pushgateway.groups == {}


def test_grouping_key_parsing() -> None:
    assert grouping_key("j", "/x/") == {"job": "j", "x": ""}
    assert grouping_key("j", "/") == {"job": "j"}
    assert grouping_key("j", "/a/1/b/2") == {"job": "j", "a": "1", "b": "2"}


def test_timestamps_refused_and_failure_time(client: TestClient, state: State) -> None:
    client.put("/metrics/job/j", content=b"a 1\n")
    r = client.put("/metrics/job/j", content=b"a 2 1234\n")
    assert r.status_code == 400
    assert r.text == (
        "pushed metrics are invalid or inconsistent with existing metrics: "
        "pushed metrics must not have timestamps\n"
    )
    g = state.pushgateway.groups[key(job="j")]
    assert g.failure_time > 0 and g.push_time > 0
    assert exposed(state.pushgateway) == {key(__name__="a", job="j"): 1.0}
    # A new group refused for timestamps exists with push_time 0 (as in Pushgateway 1.5).
    client.put("/metrics/job/k", content=b"a 1 5\n")
    assert state.pushgateway.groups[key(job="k")].push_time == 0


def test_malformed_text_changes_nothing(client: TestClient, state: State) -> None:
    client.put("/metrics/job/j", content=b"a 1\n")
    before = (exposed(state.pushgateway), dict(state.pushgateway.groups))
    for body, msg in [
        (b"a{ 1\n", 'text format parsing error in line 1: invalid label name for metric "a"'),
        (b"a 1", "text format parsing error in line 1: unexpected end of input stream"),
        (b"b 1\na x\n", 'text format parsing error in line 2: expected float as value, got "x"'),
    ]:
        r = client.put("/metrics/job/j", content=body)
        assert (r.status_code, r.text) == (400, msg + "\n")
        r = client.put("/metrics/job/new", content=body)
        assert r.status_code == 400
    assert (exposed(state.pushgateway), dict(state.pushgateway.groups)) == before
    assert state.pushgateway.groups[key(job="j")].failure_time == 0


def test_inconsistent_pushes_refused(client: TestClient, state: State) -> None:
    assert client.put("/metrics/job/j", content=b"a 1\na 2\n").status_code == 400
    assert client.put("/metrics/job/j1", content=b"b 1\n").status_code == 200
    r = client.put("/metrics/job/j2", content=b"# TYPE b counter\nb 1\n")
    assert r.status_code == 400 and "inconsistent" in r.text
    assert state.pushgateway.groups[key(job="j2")].failure_time > 0
    assert exposed(state.pushgateway) == {key(__name__="b", job="j1"): 1.0}


def test_histogram_as_pushgateway_exposes_it(client: TestClient, state: State) -> None:
    body = (
        b'# TYPE h histogram\nh_bucket{le="1.0"} 1\nh_bucket{le="+Inf"} 2.5\nh_sum 3.5\nh_count 2.5\n'
        b'# TYPE s summary\ns{quantile="0.50"} 7\ns_count 3.9\n'
    )
    assert client.put("/metrics/job/j", content=body).status_code == 200
    assert exposed(state.pushgateway) == {
        key(__name__="h_bucket", job="j", le="1"): 1.0,
        key(__name__="h_bucket", job="j", le="+Inf"): 2.0,
        key(__name__="h_sum", job="j"): 3.5,
        key(__name__="h_count", job="j"): 2.0,
        key(__name__="s", job="j", quantile="0.5"): 7.0,
        key(__name__="s_count", job="j"): 3.0,
    }


def test_go_float() -> None:
    assert [go_float(f) for f in (1.0, 0.5, 1e6, 1e5, 1e-5, 1e-4, math.inf, 123456789.0)] == [
        "1", "0.5", "1e+06", "100000", "1e-05", "0.0001", "+Inf", "1.23456789e+08",
    ]  # fmt: skip


def test_persistence_across_reopen(client: TestClient, state: State, lake: Lake) -> None:
    client.put("/metrics/job/j/instance/x", content=b'# HELP a doc\n# TYPE a gauge\na{l="v"} NaN\n')
    client.put("/metrics/job/k", content=b"b 2\n")
    client.put("/metrics/job/k", content=b"b 2 5\n")  # failure time only
    client.delete("/metrics/job/gone")
    again = PushStore(lake.root)
    assert again.groups == state.pushgateway.groups
    a, b = again.table, state.pushgateway.table
    assert a.drop_columns(["value"]).equals(b.drop_columns(["value"]))
    bits = [t.column("value").to_numpy().view(np.uint64).tolist() for t in (a, b)]
    assert bits[0] == bits[1]
    assert not list(lake.root.glob("*.tmp"))


def samples(lake: Lake) -> dict[tuple[tuple[str, str], ...], list[tuple[int, float | str]]]:
    """Every stored sample by label set, raw (stale markers as their bits)."""
    from promlake.engine import catalog

    snap = lake.snapshot()
    con = catalog.connect(snap)
    rows = con.execute(
        "SELECT s.labels, m.ts, m.value, m.stale FROM samples m JOIN series s USING (series_id) ORDER BY m.ts"
    ).fetchall()
    out: dict[tuple[tuple[str, str], ...], list[tuple[int, float | str]]] = {}
    for labels, ts, value, stale in rows:
        k = tuple(sorted(labels.items()))
        out.setdefault(k, []).append((ts, "stale" if stale else value))
    return out


def test_ingestion_rounds_and_stale_markers(client: TestClient, state: State, lake: Lake) -> None:
    store = state.pushgateway
    client.put("/metrics/job/j1", content=b"a 1\nb 2\n")
    client.put("/metrics/job/j2", content=b"a 3\n")
    store.ingest_round(lake, 1_000_000)
    got = samples(lake)
    assert got[key(__name__="a", job="j1")] == [(1_000_000, 1.0)]
    assert got[key(__name__="b", job="j1")] == [(1_000_000, 2.0)]
    assert got[key(__name__="a", job="j2")] == [(1_000_000, 3.0)]
    pt = store.groups[key(job="j1")].push_time
    assert got[key(__name__="push_time_seconds", job="j1")] == [(1_000_000, pt)]
    assert got[key(__name__="push_failure_time_seconds", job="j1")] == [(1_000_000, 0.0)]
    # j1 replaced without b, j2 deleted: stale markers at the next round.
    client.put("/metrics/job/j1", content=b"a 5\n")
    client.delete("/metrics/job/j2")
    store.ingest_round(lake, 1_015_000)
    got = samples(lake)
    assert got[key(__name__="a", job="j1")] == [(1_000_000, 1.0), (1_015_000, 5.0)]
    assert got[key(__name__="b", job="j1")] == [(1_000_000, 2.0), (1_015_000, "stale")]
    assert got[key(__name__="a", job="j2")] == [(1_000_000, 3.0), (1_015_000, "stale")]
    assert got[key(__name__="push_time_seconds", job="j2")][-1] == (1_015_000, "stale")
    # Stale markers are written once, not every round.
    store.ingest_round(lake, 1_030_000)
    got = samples(lake)
    assert got[key(__name__="b", job="j1")] == [(1_000_000, 2.0), (1_015_000, "stale")]
    assert got[key(__name__="a", job="j1")][-1] == (1_030_000, 5.0)
    # "stale" is derived from the exact bit pattern (engine.blocks.stale_mask).
    assert STALE_BITS == 0x7FF0000000000002


def test_ingestion_round_through_query_api(client: TestClient, state: State, lake: Lake) -> None:
    client.put("/metrics/job/j/instance/i", content=b'# TYPE up_x gauge\nup_x{a="1"} 42\n')
    now = int(time.time() * 1000)
    state.pushgateway.ingest_round(lake, now)
    r = client.get("/api/v1/query", params={"query": "up_x", "time": now / 1000})
    assert r.status_code == 200, r.text
    result = r.json()["data"]["result"]
    assert result == [
        {"metric": {"__name__": "up_x", "a": "1", "instance": "i", "job": "j"}, "value": [now / 1000, "42"]}
    ]
