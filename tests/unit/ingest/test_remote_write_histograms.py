"""Native histogram samples from remote write 1.0 and 2.0 are stored: WAL, head, Parquet, views.

Requests are built with protobuf's own classes (ingest/prompb/reference.py). The expected lake
rows come from a plain-Python reading of the wire layout (spans + deltas or float counts to
absolute bucket indexes), written here independently of the vectorized converter.
"""

from __future__ import annotations

import math
import struct
from typing import Any

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import promlake
from promlake.engine.errors import StorageError
from promlake.ingest.prompb import reference
from promlake.ingest.remote_write import PROTO_V1, PROTO_V2, WriteError, store

V1 = f"application/x-protobuf;proto={PROTO_V1}"
V2 = f"application/x-protobuf;proto={PROTO_V2}"
STALE_NAN = struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000002))[0]
HINTS = ("unknown", "reset", "not_reset", "gauge")


def _v1_request(
    hists: list[dict[str, Any]], name: str = "rpc_seconds", extra: dict[str, str] | None = None
) -> bytes:
    c = reference.v1_classes()
    req = c["WriteRequest"]()
    ts = req.timeseries.add()
    for k, v in sorted({"__name__": name, **(extra or {})}.items()):
        ts.labels.add(name=k, value=v)
    for h in hists:
        _fill(ts.histograms.add(), h)
    return req.SerializeToString()


def _v2_request(hists: list[dict[str, Any]], name: str = "rpc_seconds") -> bytes:
    c = reference.v2_classes()
    req = c["Request"]()
    req.symbols.extend(["", "__name__", name])
    ts = req.timeseries.add()
    ts.labels_refs.extend([1, 2])
    for h in hists:
        _fill(ts.histograms.add(), h)
    return req.SerializeToString()


def _fill(msg: Any, h: dict[str, Any]) -> None:
    for key, value in h.items():
        if key.endswith("_spans"):
            for offset, length in value:
                msg_span = getattr(msg, key).add()
                msg_span.offset, msg_span.length = offset, length
        elif isinstance(value, list):
            getattr(msg, key).extend(value)
        else:
            setattr(msg, key, value)


def _expected(h: dict[str, Any]) -> dict[str, Any]:
    """The lake row of one wire histogram, computed the slow, obvious way."""
    is_float = "count_float" in h
    row: dict[str, Any] = {
        "ts": h["timestamp"],
        "st": h.get("start_timestamp") or None,
        "counter_reset_hint": HINTS[h.get("reset_hint", 0)],
        "schema": h.get("schema", 0),
        "zero_threshold": h.get("zero_threshold", 0.0),
        "zero_count": float(h.get("zero_count_float" if is_float else "zero_count_int", 0)),
        "count": float(h["count_float" if is_float else "count_int"]),
        "sum": h.get("sum", 0.0),
        "custom_values": h.get("custom_values", []),
    }
    for side in ("positive", "negative"):
        indexes: list[int] = []
        at = 0
        for k, (offset, length) in enumerate(h.get(f"{side}_spans", [])):
            at = offset if k == 0 else at + offset
            indexes.extend(range(at, at + length))
            at += length
        if is_float:
            counts = [float(x) for x in h.get(f"{side}_counts", [])]
        else:
            counts, running = [], 0
            for d in h.get(f"{side}_deltas", []):
                running += d
                counts.append(float(running))
        row[f"{side}_index"], row[f"{side}_count"] = indexes, counts
    return row


_COLUMNS = (
    "ts, st, counter_reset_hint, schema, zero_threshold, zero_count, count, sum, "
    "positive_index, positive_count, negative_index, negative_count, custom_values"
)


def _rows(lake: promlake.Lake, metric: str) -> list[dict[str, Any]]:
    df = lake.sql(
        f"SELECT {_COLUMNS} FROM histograms JOIN series USING (series_id) WHERE metric = '{metric}' ORDER BY ts"
    )
    return df.to_dicts()


LATENCY = {
    "timestamp": 60_000,
    "count_int": 9,
    "sum": 12.5,
    "schema": 3,
    "zero_threshold": 0.001,
    "zero_count_int": 2,
    "positive_spans": [(-2, 2), (3, 1)],
    "positive_deltas": [1, 2, -1],  # counts 1, 3, 2 at indexes -2, -1, 3
    "negative_spans": [(0, 1)],
    "negative_deltas": [1],
    "reset_hint": 2,
}


def test_v1_integer_histogram_is_stored_with_absolute_bucket_indexes(tmp_path):
    with promlake.open(tmp_path) as lake:
        result = store(lake, _v1_request([LATENCY]), V1)
        assert result.histograms == 1 and result.samples == 0
        (row,) = _rows(lake, "rpc_seconds")
        assert row["positive_index"] == [-2, -1, 3]
        assert row["positive_count"] == [1.0, 3.0, 2.0]
        assert row == _expected(LATENCY)


def test_v2_float_histogram_with_start_timestamp_and_response_headers(tmp_path):
    h = {
        "timestamp": 120_000,
        "start_timestamp": 100_000,
        "count_float": 4.5,
        "sum": 3.25,
        "schema": -53,
        "positive_spans": [(0, 3)],
        "positive_counts": [1.5, 0.0, 3.0],
        "custom_values": [0.1, 0.5],
        "reset_hint": 3,
    }
    with promlake.open(tmp_path) as lake:
        result = store(lake, _v2_request([h], name="queue_size"), V2)
        assert result.headers()["X-Prometheus-Remote-Write-Histograms-Written"] == "1"
        assert _rows(lake, "queue_size") == [_expected(h)]


def test_histograms_survive_restart_flush_and_compaction(tmp_path):
    stale = {"timestamp": 180_000, "count_int": 0, "sum": STALE_NAN}
    later = {**LATENCY, "timestamp": 120_000, "count_int": 10, "positive_deltas": [2, 1, -1]}
    with promlake.open(tmp_path) as lake:
        store(lake, _v1_request([LATENCY]), V1)
    # Killed before a flush: the WAL alone has them.
    lake = promlake.open(tmp_path)
    lake.close(flush=False)
    with promlake.open(tmp_path) as lake:
        assert _rows(lake, "rpc_seconds") == [_expected(LATENCY)]
        store(lake, _v1_request([later, stale]), V1)
        lake.flush()
        lake.compact(now_ms=10**13)
        rows = _rows(lake, "rpc_seconds")
        assert [r["ts"] for r in rows] == [60_000, 120_000, 180_000]
        assert rows[1] == _expected(later)
        bits = lake.sql("SELECT stale FROM histograms ORDER BY ts")["stale"].to_list()
        assert bits == [False, False, True]
        assert len(list((tmp_path / "histograms").glob("day=*/*.parquet"))) == 1
    # The files alone, read by plain DuckDB, hold the same rows (with their labels).
    con = duckdb.connect()
    got = con.execute(
        f"SELECT s.metric, h.ts, h.positive_index, h.stale, h.sum::VARCHAR AS sum FROM read_parquet('{tmp_path}/histograms/*/*.parquet') h "
        f"JOIN read_parquet('{tmp_path}/series/*/*.parquet') s USING (series_id) ORDER BY ts"
    ).fetchall()
    assert [(m, t, i, s) for m, t, i, s, _ in got] == [
        ("rpc_seconds", 60_000, [-2, -1, 3], False),
        ("rpc_seconds", 120_000, [-2, -1, 3], False),
        ("rpc_seconds", 180_000, [], True),
    ]


def test_stale_marker_bits_survive_compaction(tmp_path):
    stale = {"timestamp": 180_000, "count_int": 0, "sum": STALE_NAN}
    with promlake.open(tmp_path) as lake:
        store(lake, _v1_request([LATENCY]), V1)
        lake.flush()
        store(lake, _v1_request([stale]), V1)
        lake.flush()
        lake.compact(now_ms=10**13)
    import pyarrow.parquet as pq

    (f,) = list((tmp_path / "histograms").glob("day=*/*.parquet"))
    sums = pq.read_table(f, columns=["sum"]).column("sum").to_numpy()
    assert sums.view("u8")[-1] == 0x7FF0000000000002


def test_identical_resend_is_dropped_and_a_different_value_refused(tmp_path):
    with promlake.open(tmp_path) as lake:
        store(lake, _v1_request([LATENCY]), V1)
        store(lake, _v1_request([LATENCY]), V1)  # a retry after a lost response
        assert len(_rows(lake, "rpc_seconds")) == 1
        with pytest.raises(StorageError, match="duplicate sample"):
            store(lake, _v1_request([{**LATENCY, "sum": 13.0}]), V1)
        # ... and within one request too.
        with pytest.raises(StorageError, match="duplicate sample"):
            store(
                lake, _v1_request([{**LATENCY, "timestamp": 1}, {**LATENCY, "timestamp": 1, "sum": 1.0}]), V1
            )
        assert _rows(lake, "rpc_seconds") == [_expected(LATENCY)]


def test_a_float_and_a_histogram_at_one_timestamp_conflict(tmp_path):
    c = reference.v1_classes()
    req = c["WriteRequest"]()
    ts = req.timeseries.add()
    ts.labels.add(name="__name__", value="rpc_seconds")
    ts.samples.add(value=1.0, timestamp=60_000)
    with promlake.open(tmp_path) as lake:
        store(lake, _v1_request([LATENCY]), V1)
        with pytest.raises(StorageError, match="duplicate sample"):
            store(lake, req.SerializeToString(), V1)
        _fill(ts.histograms.add(), {**LATENCY, "timestamp": 90_000})
        ts.samples[0].timestamp = 90_000
        with pytest.raises(StorageError, match="duplicate sample"):
            store(lake, req.SerializeToString(), V1)
        assert lake.sql("SELECT count(*) AS n FROM samples")["n"][0] == 0
        assert len(_rows(lake, "rpc_seconds")) == 1


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"positive_deltas": [1, 2]}, "positive side: spans need 3 buckets, have 2 buckets"),
        ({"positive_spans": [(-2, 2), (-1, 1)]}, "negative offset"),
        ({"positive_deltas": [1, -2, 3]}, "negative"),
        ({"schema": 9}, "invalid schema 9"),
        ({"count_int": 3}, "observation count"),
        ({"reset_hint": 7}, "counter reset hint"),
    ],
)
def test_invalid_histograms_are_refused_and_nothing_is_stored(tmp_path, change, message):
    with promlake.open(tmp_path) as lake:
        with pytest.raises(WriteError, match=message):
            store(lake, _v1_request([{**LATENCY, **change}]), V1)
        assert _rows(lake, "rpc_seconds") == []
        assert lake.sql("SELECT count(*) AS n FROM series")["n"][0] == 0


def test_histogram_only_series_is_listed_like_any_series(tmp_path):
    with promlake.open(tmp_path) as lake:
        store(lake, _v1_request([LATENCY], extra={"job": "api"}), V1)
        df = lake.sql("SELECT metric, labels['job'] AS job FROM series")
        assert df.to_dicts() == [{"metric": "rpc_seconds", "job": "api"}]
        lake.flush()
        assert lake.sql("SELECT count(*) AS n FROM series")["n"][0] == 1


_span = st.tuples(st.integers(-20, 20), st.integers(0, 4))


@st.composite
def _wire_histograms(draw: Any) -> list[dict[str, Any]]:
    out = []
    for t in sorted(draw(st.sets(st.integers(0, 10**6), min_size=1, max_size=5))):
        is_float = draw(st.booleans())
        h: dict[str, Any] = {
            "timestamp": t,
            "schema": draw(st.integers(-4, 8)),
            "reset_hint": draw(st.integers(0, 3)),
        }
        total = 0.0
        for side in ("positive", "negative"):
            spans = draw(st.lists(_span, max_size=3))
            spans = [(o if k == 0 else abs(o), n) for k, (o, n) in enumerate(spans)]
            n = sum(length for _, length in spans)
            h[f"{side}_spans"] = spans
            if is_float:
                counts = draw(st.lists(st.floats(0, 1e6), min_size=n, max_size=n))
                h[f"{side}_counts"] = counts
                total += sum(counts)
            else:
                counts_i = draw(st.lists(st.integers(0, 10**6), min_size=n, max_size=n))
                h[f"{side}_deltas"] = [b - a for a, b in zip([0, *counts_i], counts_i, strict=False)]
                total += sum(counts_i)
        if is_float:
            h["count_float"] = total + 1.0
            h["zero_count_float"] = 1.0
        else:
            h["count_int"] = int(total) + 1
            h["zero_count_int"] = 1
        h["sum"] = draw(st.floats(allow_nan=False, allow_infinity=False))
        out.append(h)
    return out


@settings(max_examples=40, deadline=None)
@given(hists=_wire_histograms(), v2=st.booleans())
def test_any_valid_wire_layout_becomes_the_absolute_layout(tmp_path_factory, hists, v2):
    path = tmp_path_factory.mktemp("lake")
    with promlake.open(path) as lake:
        body = _v2_request(hists) if v2 else _v1_request(hists)
        store(lake, body, V2 if v2 else V1)
        got = _rows(lake, "rpc_seconds")
    want = [_expected(h) for h in hists]
    for g, w in zip(got, want, strict=True):
        assert g == w or (math.isnan(g["sum"]) and math.isnan(w["sum"]))


def test_bucket_index_past_32_bits_is_refused(tmp_path):
    h = {**LATENCY, "positive_spans": [(2**31 - 1, 0), (2**31 - 1, 3)]}
    with promlake.open(tmp_path) as lake, pytest.raises(WriteError, match="32 bits"):
        store(lake, _v1_request([h]), V1)


def test_an_older_histogram_resent_after_newer_ones_is_still_checked(tmp_path):
    later = {**LATENCY, "timestamp": 120_000}
    with promlake.open(tmp_path) as lake:
        store(lake, _v1_request([LATENCY, later]), V1)
        store(lake, _v1_request([LATENCY]), V1)  # out of order, identical: dropped
        assert len(_rows(lake, "rpc_seconds")) == 2
        with pytest.raises(StorageError, match="duplicate sample"):
            store(lake, _v1_request([{**LATENCY, "sum": 1.0}]), V1)
        c = reference.v1_classes()
        req = c["WriteRequest"]()
        ts = req.timeseries.add()
        ts.labels.add(name="__name__", value="rpc_seconds")
        ts.samples.add(value=1.0, timestamp=60_000)  # a float where an older histogram is
        with pytest.raises(StorageError, match="duplicate sample"):
            store(lake, req.SerializeToString(), V1)
