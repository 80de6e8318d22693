"""OTLP exponential histograms become native histograms (ingest/otlp/exp_histograms.py).

The expected rows come from a plain-Python reading of the OTLP point written here (bucket
``offset + i`` at scale ``s`` -> Prometheus index ``floor((offset + i) / 2^max(s - 8, 0)) + 1``,
merged counts summed, empty buckets left out), independently of the vectorized converter;
protobuf and JSON bodies must give the same rows.
"""

from __future__ import annotations

import math
import struct
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from otlp_requests import build, otlp_json

import promlake
from promlake.ingest.otlp import decode_export_request, decode_export_request_json, translate
from promlake.ingest.otlp.receiver import store
from promlake.ingest.otlp.translate import TranslationError
from promlake.ingest.remote_write import WriteError

S = 10**9
STALE_BITS = 0x7FF0000000000002
PB = "application/x-protobuf"
RES = {"attributes": [{"key": "service.name", "value": {"string_value": "svc"}}]}


def bits(x: float) -> int:
    return int(struct.unpack("<Q", struct.pack("<d", x))[0])


def request(points: list[dict[str, Any]], name: str = "lat", unit: str = "s", temporality: int = 2) -> Any:
    d = {"resource_metrics": [{"resource": RES, "scope_metrics": [{"metrics": [
        {"name": name, "unit": unit, "description": "Latency.", "exponential_histogram": {
            "aggregation_temporality": temporality, "data_points": points}}]}]}]}  # fmt: skip
    return build(d)


def rows_of(tr: Any) -> list[dict[str, Any]]:
    """Translated histogram rows with float fields as bits (NaN and stale sums compare)."""
    out = []
    for r in tr.histograms.to_pylist():
        r["sum"], r["zero_threshold"] = bits(r["sum"]), bits(r["zero_threshold"])
        out.append(r)
    return out


def reference_row(p: dict[str, Any]) -> dict[str, Any]:
    """What Prometheus's conversion means for one point, in the lake's layout."""
    scale = p.get("scale", 0)
    factor = 2 ** max(scale - 8, 0)
    stale = p.get("flags", 0) & 1
    row: dict[str, Any] = {
        "ts": p.get("time_unix_nano", 0) // 10**6,
        "st": (p.get("start_time_unix_nano", 0) // 10**6) or None,
        "counter_reset_hint": "unknown",
        "schema": min(scale, 8),
        "zero_threshold": bits(max(p.get("zero_threshold", 0.0), 1e-128)),
        "zero_count": float(p.get("zero_count", 0)),
        "count": 0.0 if stale else float(p.get("count", 0)),
        "sum": STALE_BITS if stale else bits(p.get("sum", 0.0)),
        "custom_values": [],
    }
    for side in ("positive", "negative"):
        b = p.get(side, {})
        merged: dict[int, int] = {}
        for i, c in enumerate(b.get("bucket_counts", [])):
            k = (b.get("offset", 0) + i) // factor + 1
            merged[k] = merged.get(k, 0) + c
        kept = sorted((k, c) for k, c in merged.items() if c)
        row[f"{side}_index"] = [k for k, _ in kept]
        row[f"{side}_count"] = [float(c) for _, c in kept]
    return row


def both(req: Any) -> Any:
    """The translation of the protobuf body, checked equal to the JSON body's."""
    tr = translate(decode_export_request(req.SerializeToString()))
    tr_json = translate(decode_export_request_json(otlp_json(req, enums_as_ints=False)))
    assert rows_of(tr) == rows_of(tr_json)
    assert tr.histogram_series.tolist() == tr_json.histogram_series.tolist()
    return tr


@st.composite
def point(draw: Any) -> dict[str, Any]:
    p: dict[str, Any] = {
        "time_unix_nano": draw(st.integers(1, 2**62)),
        "start_time_unix_nano": draw(st.sampled_from([0, 123 * S, 5 * 10**5])),
        "scale": draw(st.integers(-4, 20)),
        "zero_count": draw(st.integers(0, 3)),
        "flags": draw(st.sampled_from([0, 0, 1])),
    }
    total = p["zero_count"]
    for side in ("positive", "negative"):
        if draw(st.booleans()):
            counts = draw(st.lists(st.integers(0, 4) | st.just(0), max_size=40))
            p[side] = {"offset": draw(st.integers(-5000, 5000)), "bucket_counts": counts}
            total += sum(counts)
    p["count"] = total + draw(st.integers(0, 2))
    for opt in ("sum", "zero_threshold", "min", "max"):
        if draw(st.booleans()):
            p[opt] = draw(st.floats(0, 1e6) | st.just(math.nan) if opt == "sum" else st.floats(0, 1e-3))
    return p


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(point(), min_size=1, max_size=4))
def test_rows_match_the_reference(points: list[dict[str, Any]]) -> None:
    tr = both(request(points))
    assert rows_of(tr) == [reference_row(p) for p in points]


def test_index_conversion_and_downscaling() -> None:
    # Scale 8 keeps the OTLP buckets, one to one, index + 1.
    pts = [
        {"time_unix_nano": S, "scale": 8, "count": 6, "positive": {"offset": -3, "bucket_counts": [1, 0, 2, 3]}},
        # Scale 10: four OTLP buckets per scale-8 bucket; -5 // 4 = -2 (floor, not truncation).
        {"time_unix_nano": 2 * S, "scale": 10, "count": 10, "sum": 2.5,
         "positive": {"offset": -5, "bucket_counts": [1, 2, 0, 3, 0, 0, 0, 0, 0, 1]},
         "negative": {"offset": 3, "bucket_counts": [2, 0, 0, 0, 0, 1]}},
        {"time_unix_nano": 3 * S, "scale": -4, "count": 1, "positive": {"offset": 0, "bucket_counts": [1]}},
    ]  # fmt: skip
    tr = both(request(pts))
    got = [(r["schema"], r["positive_index"], r["positive_count"], r["negative_index"], r["negative_count"])
           for r in rows_of(tr)]  # fmt: skip
    assert got == [
        (8, [-2, 0, 1], [1.0, 2.0, 3.0], [], []),
        (8, [-1, 0, 2], [1.0, 5.0, 1.0], [1, 3], [2.0, 1.0]),
        (-4, [1], [1.0], [], []),
    ]
    assert rows_of(tr) == [reference_row(p) for p in pts]


def test_series_name_labels_metadata_and_exemplars() -> None:
    tid = bytes(range(1, 17))
    req = request([{"time_unix_nano": 5 * S, "start_time_unix_nano": S, "count": 1, "scale": 0,
                    "positive": {"offset": 0, "bucket_counts": [1]},
                    "attributes": [{"key": "http.route", "value": {"string_value": "/a"}}],
                    "exemplars": [{"as_double": 1.5, "trace_id": tid}, {"as_int": 2, "time_unix_nano": 4 * S}]}],
                  name="http.server.duration", unit="ms")  # fmt: skip
    tr = both(req)
    (sid,) = tr.histogram_series.tolist()
    s = tr.series
    labels = {k: v for o, k, v in zip(s.owner.tolist(), s.names.to_pylist(), s.values.to_pylist(), strict=True)
              if o == sid}  # fmt: skip
    assert labels == {"__name__": "http_server_duration_milliseconds", "http_route": "/a", "job": "svc"}
    assert ("http_server_duration_milliseconds", "histogram", "Latency.", "milliseconds") in tr.metadata
    assert tr.ts.size == 0  # no float samples (no _bucket/_sum/_count series); no target_info
    assert tr.exemplar_series.tolist() == [sid, sid]
    assert tr.exemplar_ts.tolist() == [5000, 4000]  # no exemplar time: the point's
    assert tr.exemplar_values.tolist() == [1.5, 2.0]
    (row,) = rows_of(tr)
    assert row["st"] == 1000 and row["counter_reset_hint"] == "unknown"


def test_stale_points_absent_sum_and_zero_threshold() -> None:
    pts = [
        {"time_unix_nano": S, "count": 3, "sum": 4.0, "zero_count": 3, "zero_threshold": 0.25},
        {"time_unix_nano": 2 * S, "count": 0, "flags": 1, "positive": {"bucket_counts": [0, 1]}},
        {"time_unix_nano": 3 * S, "count": 2, "zero_count": 2},  # no sum: 0 as upstream
        {"time_unix_nano": 4 * S, "count": 0, "sum": 1.5},  # kept, with a warning
    ]
    tr = both(request(pts))
    rows = rows_of(tr)
    assert [r["sum"] for r in rows] == [bits(4.0), STALE_BITS, bits(0.0), bits(1.5)]
    assert [r["count"] for r in rows] == [3.0, 0.0, 2.0, 0.0]
    assert [r["zero_threshold"] for r in rows] == [bits(0.25)] + [bits(1e-128)] * 3
    assert tr.warnings == ["exponential histogram data point has zero count, but non-zero sum: 1.500000"]


@pytest.mark.parametrize(("scale", "ok"), [(-4, True), (-5, False), (-(2**31), False), (2**31 - 1, True)])
def test_scale_limits(scale: int, ok: bool) -> None:
    req = request([{"time_unix_nano": S, "count": 1, "scale": scale, "positive": {"bucket_counts": [1]}}])
    if ok:
        (row,) = rows_of(both(req))
        assert (row["schema"], row["positive_index"]) == (min(scale, 8), [1])
        return
    with pytest.raises(TranslationError, match=f"Scale must be >= -4, was {scale}"):
        translate(decode_export_request(req.SerializeToString()))
    with pytest.raises(TranslationError, match=f"Scale must be >= -4, was {scale}"):
        translate(decode_export_request_json(otlp_json(req, enums_as_ints=False)))


def test_delta_temporality_is_refused_as_for_other_kinds() -> None:
    req = request([{"time_unix_nano": S, "count": 0}], temporality=1)
    with pytest.raises(TranslationError, match="temporality"):
        translate(decode_export_request(req.SerializeToString()))


def test_bucket_index_outside_int32_is_refused() -> None:
    req = request([{"time_unix_nano": S, "count": 2, "scale": 0,
                    "positive": {"offset": 2**31 - 1, "bucket_counts": [1, 1]}}])  # fmt: skip
    with pytest.raises(TranslationError, match="bucket index out of range"):
        translate(decode_export_request(req.SerializeToString()))


def _lake_rows(lake: Any, metric: str) -> list[dict[str, Any]]:
    return lake.sql(
        "SELECT ts, st, stale, schema, count, sum::VARCHAR AS sum, zero_count, positive_index, positive_count, "
        f"negative_index FROM histograms JOIN series USING (series_id) WHERE metric = '{metric}' ORDER BY ts"
    ).to_dicts()


def test_store_appends_native_histograms(tmp_path: Any) -> None:
    pts = [
        {"time_unix_nano": 60 * S, "start_time_unix_nano": 30 * S, "count": 4, "sum": 1.0, "scale": 9,
         "zero_count": 1, "positive": {"offset": 1, "bucket_counts": [1, 1, 0, 1]}},  # idx 1, 2, 2, 3
        {"time_unix_nano": 120 * S, "flags": 1},
    ]  # fmt: skip
    with promlake.open(tmp_path) as lake:
        result = store(lake, request(pts).SerializeToString(), PB)
        assert (result.histograms, result.samples) == (2, 0)
        rows = _lake_rows(lake, "lat_seconds")
        assert rows == [
            {"ts": 60_000, "st": 30_000, "stale": False, "schema": 8, "count": 4.0, "sum": "1.0",
             "zero_count": 1.0, "positive_index": [1, 2, 3], "positive_count": [1.0, 1.0, 1.0], "negative_index": []},
            {"ts": 120_000, "st": None, "stale": True, "schema": 0, "count": 0.0, "sum": "nan",
             "zero_count": 0.0, "positive_index": [], "positive_count": [], "negative_index": []},
        ]  # fmt: skip
        assert lake.metadata["lat_seconds"].type == "histogram"
        # Resending the same request is accepted (identical samples), JSON alike.
        store(lake, otlp_json(request(pts), enums_as_ints=False), "application/json")
        assert len(_lake_rows(lake, "lat_seconds")) == 2


def test_store_refuses_what_prometheus_refuses(tmp_path: Any) -> None:
    with promlake.open(tmp_path) as lake:
        bad_scale = request([{"time_unix_nano": S, "count": 1, "scale": -5}])
        with pytest.raises(WriteError, match="Scale must be"):
            store(lake, bad_scale.SerializeToString(), PB)
        # Fewer observations than the buckets hold: the engine's validation refuses it.
        too_few = request([{"time_unix_nano": S, "count": 1, "positive": {"bucket_counts": [2]}}])
        with pytest.raises(WriteError, match="invalid native histogram"):
            store(lake, too_few.SerializeToString(), PB)
        assert lake.sql("SELECT count(*) AS n FROM histograms")["n"][0] == 0
