"""/federate over a small lake with a fixed "now": selection, staleness, lookback, labels, text.

Expected bodies are spelled out as Prometheus 2.42 writes them (checked against the real
binary in tests/integration/test_federate_vs_prometheus.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest
from apidata import T0, FakeState
from fastapi.testclient import TestClient

from promlake import config as cfg
from promlake.api import federate
from promlake.api.app import create_app
from promlake.engine import Lake, SeriesBatch
from promlake.selfmon import Metrics

NOW = 1_800_000_000_000
STALE = float(np.array([0x7FF0000000000002], np.uint64).view(np.float64)[0])
ODD = {
    "c0": float("nan"), "c1": float("inf"), "c2": float("-inf"), "c3": -0.0, "c4": 1e-7,
    "c5": 1.5e21, "c6": 1234567.0, "c7": 1e-5, "c8": 0.0001, "c9": 123456.0,
}  # fmt: skip
# (labels, [(ms before NOW, value)], flushed?) - the flushed part goes to Parquet first.
DATA: list[tuple[dict[str, str], list[tuple[int, float]], bool]] = [
    ({"__name__": "fed_a", "job": "x", "instance": "i"}, [(60_000, 1.0)], True),
    ({"__name__": "fed_a", "job": "x", "instance": "i"}, [(30_000, 2.0)], False),  # newest in head
    ({"__name__": "fed_a", "job": "y"}, [(10_000, 0.5)], False),
    ({"__name__": "fed_edge", "job": "in"}, [(300_000, 7.0)], True),  # exactly now - 5m: kept
    ({"__name__": "fed_edge", "job": "out"}, [(300_001, 8.0)], True),
    ({"__name__": "fed_stale", "job": "gone"}, [(20_000, 1.0), (10_000, STALE)], True),
    ({"__name__": "fed_stale", "job": "back"}, [(20_000, STALE), (10_000, 3.0)], False),
    ({"__name__": "fed_future", "job": "f"}, [(10_000, 1.0), (-10_000, 2.0)], False),
    ({"__name__": "fed_now", "job": "n"}, [(0, 4.0)], False),
    ({"__name__": "fed_esc", "v": 'a\\b"c\nd'}, [(5_000, 1.0)], False),
    ({"job": "nameless"}, [(5_000, 1.0)], False),
    ({"__name__": "fed_region", "region": "us"}, [(5_000, 1.0)], False),
    *(({"__name__": "fed_odd", "case": k}, [(5_000, v)], False) for k, v in ODD.items()),
]
CONFIG = "global:\n  external_labels:\n    region: eu\n    zone: z1\n"


def _append(lake: Lake, rows: list[tuple[dict[str, str], list[tuple[int, float]], bool]]) -> None:
    batch = SeriesBatch.from_dicts([labels for labels, _, _ in rows])
    idx = np.concatenate([np.full(len(s), i) for i, (_, s, _) in enumerate(rows)])
    ts = np.array([NOW - ago for _, s, _ in rows for ago, _ in s], np.int64)
    vals = np.array([v for _, s, _ in rows for _, v in s], np.float64)
    app = lake.appender()
    app.append(batch, idx, ts, vals)
    app.commit()


@pytest.fixture(scope="module")
def fstate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeState]:
    lake = Lake(tmp_path_factory.mktemp("federate"))
    _append(lake, [d for d in DATA if d[2]])
    lake.flush()
    _append(lake, [d for d in DATA if not d[2]])
    yield FakeState(lake, Metrics(lake), config=cfg.load(CONFIG))
    lake.close()


@pytest.fixture(autouse=True)
def frozen_now(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(federate, "now_ms", lambda: NOW)


@pytest.fixture(scope="module")
def fclient(fstate: FakeState) -> TestClient:
    return TestClient(create_app(fstate))


def _get(client: TestClient, *matches: str, **kw: object) -> tuple[int, str, dict[str, str]]:
    r = client.get("/federate", params=[("match[]", m) for m in matches], **kw)
    return r.status_code, r.text, dict(r.headers)


def _ts(ago: int) -> int:
    return NOW - ago


# --- the body --------------------------------------------------------------------------------


def test_families_labels_and_timestamps(fclient):
    status, body, headers = _get(fclient, "fed_a", "fed_region")
    assert status == 200
    assert headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert body == (
        "# TYPE fed_a untyped\n"
        f'fed_a{{instance="i",job="x",region="eu",zone="z1"}} 2 {_ts(30_000)}\n'
        f'fed_a{{job="y",instance="",region="eu",zone="z1"}} 0.5 {_ts(10_000)}\n'
        "# TYPE fed_region untyped\n"
        f'fed_region{{region="us",instance="",zone="z1"}} 1 {_ts(5_000)}\n'
    )


def test_match_sets_are_unioned_without_duplicates(fclient):
    one = _get(fclient, '{__name__=~"fed_a|fed_now"}')[1]
    assert _get(fclient, "fed_a", 'fed_a{job="x"}', "fed_now", "fed_now")[1] == one
    assert one.count("\n") == 5


def test_everything_sorted_by_name(fclient):
    body = _get(fclient, '{__name__=~".+"}')[1]
    families = [line.split()[2] for line in body.splitlines() if line.startswith("# TYPE")]
    named = {labels.get("__name__", "") for labels, _, _ in DATA} - {""}
    assert families == sorted(named)  # each name once, in byte order


def test_empty_matching_selectors_are_allowed(fclient):
    """No 'at least one non-empty matcher' rule here, unlike /api/v1/series."""
    assert _get(fclient, '{job=~".*"}')[1] == _get(fclient, '{__name__=~".+"}')[1]
    body = _get(fclient, '{__name__=~"fed_.*",job=""}')[1]
    assert body.startswith("# TYPE fed_esc untyped\n") and "job=" not in body


def test_no_match_and_no_matchers_answer_empty(fclient):
    for matches in ((), ("{}",), ("nothing_here",)):
        status, body, headers = _get(fclient, *matches)
        assert (status, body) == (200, "")
        assert headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"


def test_nameless_series_are_skipped(fclient):
    assert _get(fclient, '{job="nameless"}')[1] == ""


# --- staleness and the window ----------------------------------------------------------------


def test_newest_stale_marker_drops_the_series(fclient):
    body = _get(fclient, "fed_stale")[1]
    line = f'fed_stale{{job="back",instance="",region="eu",zone="z1"}} 3 {_ts(10_000)}\n'
    assert body == "# TYPE fed_stale untyped\n" + line


def test_lookback_window_includes_both_ends(fclient):
    body = _get(fclient, "fed_edge", "fed_now")[1]
    assert f'fed_edge{{job="in",instance="",region="eu",zone="z1"}} 7 {_ts(300_000)}\n' in body
    assert 'job="out"' not in body
    assert f'fed_now{{job="n",instance="",region="eu",zone="z1"}} 4 {NOW}\n' in body


def test_samples_after_now_are_ignored(fclient):
    assert f" 1 {_ts(10_000)}\n" in _get(fclient, "fed_future")[1]


def test_wall_clock_now_not_lake_time(fclient, monkeypatch):
    monkeypatch.setattr(federate, "now_ms", lambda: NOW + 3_600_000)
    assert _get(fclient, '{__name__=~".+"}')[1] == ""


def test_server_lookback_delta(fstate):
    opts = SimpleNamespace(lookback_delta_ms=15_000)
    client = TestClient(create_app(replace(fstate, opts=opts)))
    body = _get(client, "fed_a", "fed_now")[1]
    assert 'job="x"' not in body  # 30 s old
    assert 'job="y"' in body and "fed_now" in body


# --- labels and values -----------------------------------------------------------------------


def test_external_labels_fill_in_only_missing_names(fstate):
    config = cfg.load("global:\n  external_labels:\n    instance: fed:9090\n    job: federated\n")
    client = TestClient(create_app(replace(fstate, config=config)))
    body = _get(client, "fed_a", "fed_region")[1]
    assert f'fed_a{{instance="i",job="x"}} 2 {_ts(30_000)}\n' in body
    assert f'fed_region{{region="us",instance="fed:9090",job="federated"}} 1 {_ts(5_000)}\n' in body


def test_without_external_labels_only_instance_is_added(fstate):
    client = TestClient(create_app(replace(fstate, config=cfg.load("global: {}\n"))))
    assert _get(client, 'fed_a{job="y"}')[1].splitlines()[1].startswith('fed_a{job="y",instance=""} ')


def test_label_value_escaping(fclient):
    body = _get(fclient, "fed_esc")[1]
    escaped = 'v="a\\\\b\\"c\\nd"'  # backslash, quote and newline escaped; nothing else
    assert body.splitlines()[1] == f'fed_esc{{{escaped},instance="",region="eu",zone="z1"}} 1 {_ts(5_000)}'


def test_special_values(fclient):
    lines = _get(fclient, "fed_odd")[1].splitlines()[1:]
    got = {line.split('"')[1]: line.split()[1] for line in lines}
    assert got == {
        "c0": "NaN", "c1": "+Inf", "c2": "-Inf", "c3": "0", "c4": "1e-07", "c5": "1.5e+21",
        "c6": "1.234567e+06", "c7": "1e-05", "c8": "0.0001", "c9": "123456",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("value", "go"),
    [
        # strconv.FormatFloat(v, 'g', -1, 64), with expfmt's special cases
        (1.0, "1"), (-1.0, "-1"), (0.0, "0"), (-0.0, "0"), (0.5, "0.5"), (100000.0, "100000"),
        (999999.9, "999999.9"), (1e6, "1e+06"), (-1234567.5, "-1.2345675e+06"), (1.7e12, "1.7e+12"),
        (1e16, "1e+16"), (12345678901234567.0, "1.2345678901234568e+16"), (1e21, "1e+21"),
        (1e300, "1e+300"), (0.0001, "0.0001"), (9.99e-5, "9.99e-05"), (-2.5e-5, "-2.5e-05"),
        (1e-6, "1e-06"), (1.5e-7, "1.5e-07"), (5e-324, "5e-324"), (0.1 + 0.2, "0.30000000000000004"),
        (123456.789, "123456.789"), (float("nan"), "NaN"), (float("inf"), "+Inf"), (float("-inf"), "-Inf"),
        (STALE, "NaN"),
    ],
)  # fmt: skip
def test_go_floats(value, go):
    assert federate.go_floats(np.array([value, 2.0])).to_pylist() == [go, "2"]


def test_shared_lake_spellings(client, monkeypatch):
    """The API tests' lake (Parquet and head) at its last sample."""
    monkeypatch.setattr(federate, "now_ms", lambda: T0 + 600_000)
    status, body, _ = _get(client, "odd", "up")
    assert status == 200
    assert body == (
        "# TYPE odd untyped\n"
        'odd{case="big",instance=""} 1e+21 1700000600000\n'
        'odd{case="inf",instance=""} -Inf 1700000600000\n'
        'odd{case="nan",instance=""} NaN 1700000600000\n'
        'odd{case="quote\\"<&>\\n",instance=""} 0.5 1700000600000\n'
        'odd{case="small",instance=""} 1e-07 1700000600000\n'
        "# TYPE up untyped\n"
        'up{instance="a:1",job="api"} 1 1700000600000\n'
        'up{instance="b:1",job="api"} 0 1700000600000\n'
    )


# --- requests --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("selector", "error"),
    [
        ("up{", "1:4: parse error: unexpected end of input inside braces"),
        ("1", '1:1: parse error: unexpected number "1"'),
        ("up offset 5m", "1:4: parse error: unexpected <offset>"),
        ("rate(up[5m])", '1:5: parse error: unexpected "("'),
    ],
)
def test_bad_selector_is_a_plain_400(fclient, selector, error):
    status, body, headers = _get(fclient, "fed_a", selector)
    assert (status, body) == (400, error + "\n")
    assert headers["content-type"] == "text/plain; charset=utf-8"
    assert headers["x-content-type-options"] == "nosniff"


def test_bad_regex_is_a_400(fclient):
    status, body, _ = _get(fclient, '{a=~"("}')
    assert status == 400 and "error parsing regexp" in body


def test_only_get(fclient):
    r = fclient.post("/federate", data={"match[]": "fed_a"})
    assert (r.status_code, r.text, r.headers["allow"]) == (405, "Method Not Allowed\n", "GET, OPTIONS")
    r = fclient.options("/federate")
    assert (r.status_code, r.text, r.headers["allow"]) == (200, "", "GET, OPTIONS")


def test_protobuf_accept_gets_text(fclient):
    accept = "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"
    status, body, headers = _get(fclient, "fed_now", headers={"Accept": accept})
    assert status == 200 and body.startswith("# TYPE fed_now untyped\n")
    assert headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"


def test_gzip(fclient):
    r = fclient.get("/federate", params={"match[]": '{__name__=~".+"}'}, headers={"Accept-Encoding": "gzip"})
    assert r.headers["content-encoding"] == "gzip" and r.text.startswith("# TYPE fed_a untyped\n")


def test_not_ready(fstate):
    client = TestClient(create_app(replace(fstate, ready=False)))
    r = client.get("/federate", params={"match[]": "fed_a"})
    assert (r.status_code, r.text) == (503, "Service Unavailable")
