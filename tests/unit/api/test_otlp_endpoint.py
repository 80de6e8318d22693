"""POST /api/v1/otlp/v1/metrics end to end: the app stores what the OTLP request says, and
/api/v1/query returns the translated series (protobuf, gzip, JSON, errors, the real OTel SDK)."""

from __future__ import annotations

import gzip
import json
import math
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from apidata import FakeState
from fastapi.testclient import TestClient

from promlake.api.app import create_app
from promlake.engine import Lake
from promlake.selfmon import Metrics

pb = pytest.importorskip("opentelemetry.proto.collector.metrics.v1.metrics_service_pb2")
from google.protobuf import json_format  # noqa: E402

URL = "/api/v1/otlp/v1/metrics"
S = 10**9
T = int(time.time()) // 60 * 60  # recent, so instant queries at T see the samples


@pytest.fixture
def client(tmp_path: Any) -> Iterator[TestClient]:
    lake = Lake(tmp_path / "lake")
    yield TestClient(create_app(FakeState(lake, Metrics(lake))))
    lake.close()


def request(value: float = 7, t: int = T, temporality: int = 2) -> Any:
    return json_format.ParseDict(
        {"resource_metrics": [{
            "resource": {"attributes": [
                {"key": "service.name", "value": {"string_value": "checkout"}},
                {"key": "service.instance.id", "value": {"string_value": "pod-1"}},
                {"key": "host.name", "value": {"string_value": "node-a"}}]},
            "scope_metrics": [{"metrics": [
                {"name": "http.server.requests", "unit": "1", "description": "Requests.", "sum": {
                    "aggregation_temporality": temporality, "is_monotonic": True, "data_points": [
                        {"as_double": value, "time_unix_nano": t * S, "start_time_unix_nano": (t - 60) * S,
                         "attributes": [{"key": "http.method", "value": {"string_value": "GET"}}]}]}},
                {"name": "rpc.duration", "unit": "ms", "histogram": {"aggregation_temporality": 2, "data_points": [
                    {"count": 3, "sum": 12, "bucket_counts": [1, 2], "explicit_bounds": [5], "time_unix_nano": t * S}]}},
            ]}]}]},
        pb.ExportMetricsServiceRequest(),
    )  # fmt: skip


def query(client: TestClient, q: str, t: float = T) -> list[dict[str, Any]]:
    r = client.get("/api/v1/query", params={"query": q, "time": t})
    assert r.status_code == 200, r.text
    return [{"metric": x["metric"], "value": x["value"][1]} for x in r.json()["data"]["result"]]


def test_protobuf_is_stored_and_queryable(client: TestClient) -> None:
    r = client.post(
        URL, content=request().SerializeToString(), headers={"Content-Type": "application/x-protobuf"}
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/x-protobuf"
    assert query(client, "http_server_requests_total") == [{"metric": {
        "__name__": "http_server_requests_total", "job": "checkout", "instance": "pod-1", "http_method": "GET"},
        "value": "7"}]  # fmt: skip
    assert query(client, "target_info") == [{"metric": {
        "__name__": "target_info", "job": "checkout", "instance": "pod-1", "host_name": "node-a"}, "value": "1"}]  # fmt: skip
    got = {x["metric"]["le"]: x["value"] for x in query(client, "rpc_duration_milliseconds_bucket")}
    assert got == {"5": "1", "+Inf": "3"}
    assert query(client, "rpc_duration_milliseconds_count")[0]["value"] == "3"
    md = client.get("/api/v1/metadata").json()["data"]
    assert md["http_server_requests_total"][0]["type"] == "counter"
    assert md["rpc_duration_milliseconds"][0] == {"type": "histogram", "help": "", "unit": "milliseconds"}


def test_gzip_and_json(client: TestClient) -> None:
    body = gzip.compress(request(value=3).SerializeToString())
    r = client.post(
        URL, content=body, headers={"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"}
    )
    assert r.status_code == 200, r.text
    assert query(client, "http_server_requests_total")[0]["value"] == "3"
    doc = json_format.MessageToJson(request(value=5, t=T + 60), use_integers_for_enums=True)
    r = client.post(URL, content=doc, headers={"Content-Type": "application/json"})
    assert r.status_code == 200, r.text
    assert r.json() == {}
    assert query(client, "http_server_requests_total", T + 60)[0]["value"] == "5"


def test_errors_store_nothing(client: TestClient) -> None:
    pbh = {"Content-Type": "application/x-protobuf"}
    r = client.post(URL, content=b"\x0a\x05\x01", headers=pbh)
    assert r.status_code == 400 and "decoding OTLP" in r.text
    r = client.post(URL, content=b"{nope", headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    r = client.post(URL, content=b"x", headers={"Content-Type": "text/plain"})
    assert r.status_code == 415
    r = client.post(URL, content=b"x", headers={**pbh, "Content-Encoding": "gzip"})
    assert r.status_code == 400 and "gzip" in r.text
    r = client.post(URL, content=b"", headers={**pbh, "Content-Encoding": "snappy"})
    assert r.status_code == 400 and "unsupported compression" in r.text
    # A delta sum refuses the whole request: the cumulative histogram is not stored either.
    r = client.post(URL, content=request(temporality=1).SerializeToString(), headers=pbh)
    assert r.status_code == 400 and "temporality" in r.text
    assert query(client, "rpc_duration_milliseconds_count") == []


def test_exponential_histograms_are_stored_as_native_histograms(tmp_path: Any) -> None:
    lake = Lake(tmp_path / "lake")
    client = TestClient(create_app(FakeState(lake, Metrics(lake))))
    try:
        req = request()
        m = req.resource_metrics[0].scope_metrics[0].metrics.add(name="eh", unit="By")
        m.exponential_histogram.aggregation_temporality = 2
        p = m.exponential_histogram.data_points.add(count=3, sum=7.5, scale=9, time_unix_nano=T * S)
        p.positive.offset, p.zero_count = -1, 1
        p.positive.bucket_counts.extend([1, 1])  # OTLP -1, 0 at scale 9: indexes 0, 1 at 8
        r = client.post(
            URL, content=req.SerializeToString(), headers={"Content-Type": "application/x-protobuf"}
        )
        assert r.status_code == 200, r.text
        assert r.content == b""  # nothing rejected: no partial_success
        p.time_unix_nano = (T + 60) * S
        r = client.post(
            URL, content=json_format.MessageToJson(req), headers={"Content-Type": "application/json"}
        )
        assert r.status_code == 200 and json.loads(r.content) == {}
        rows = lake.sql(
            "SELECT metric, labels['job'] AS job, ts, schema, count, sum, zero_count, positive_index, positive_count "
            "FROM histograms JOIN series USING (series_id) ORDER BY ts"
        ).to_dicts()
        row = {"metric": "eh_bytes", "job": "checkout", "ts": T * 1000, "schema": 8, "count": 3.0, "sum": 7.5,
               "zero_count": 1.0, "positive_index": [0, 1], "positive_count": [1.0, 1.0]}  # fmt: skip
        assert rows == [row, {**row, "ts": (T + 60) * 1000}]
        assert client.get("/api/v1/metadata").json()["data"]["eh_bytes"][0]["type"] == "histogram"
        # An invalid scale refuses the whole request.
        p.scale, p.time_unix_nano = -5, (T + 120) * S
        r = client.post(
            URL, content=req.SerializeToString(), headers={"Content-Type": "application/x-protobuf"}
        )
        assert r.status_code == 400 and "Scale must be >= -4" in r.text
        assert lake.sql("SELECT count(*) AS n FROM histograms")["n"][0] == 2
        assert query(client, "http_server_requests_total", T + 120)[0]["value"] == "7"  # the earlier one
    finally:
        lake.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_real_opentelemetry_sdk_exports_to_promlake(tmp_path: Any) -> None:
    """The OTel Python SDK's OTLP/HTTP exporter (protobuf, gzip) against the real app."""
    sdk_metrics = pytest.importorskip("opentelemetry.sdk.metrics")
    export = pytest.importorskip("opentelemetry.sdk.metrics.export")
    exporter_mod = pytest.importorskip("opentelemetry.exporter.otlp.proto.http.metric_exporter")
    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.metrics import Observation
    from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation, View
    from opentelemetry.sdk.resources import Resource

    uvicorn = pytest.importorskip("uvicorn")
    lake = Lake(tmp_path / "lake")
    app = create_app(FakeState(lake, Metrics(lake)))
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(100):
            if server.started:
                break
            time.sleep(0.05)
        exporter = exporter_mod.OTLPMetricExporter(
            endpoint=f"http://127.0.0.1:{port}{URL}", compression=Compression.Gzip
        )
        reader = export.PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
        provider = sdk_metrics.MeterProvider(
            metric_readers=[reader],
            resource=Resource.create({"service.name": "shop", "service.instance.id": "i-1", "region": "eu"}),
            views=[View(instrument_name="payload.*", aggregation=ExponentialBucketHistogramAggregation())],
        )
        meter = provider.get_meter("test")
        meter.create_counter("orders", unit="1", description="Orders.").add(3, {"kind": "web"})
        meter.create_histogram("checkout.duration", unit="s").record(0.3)
        meter.create_up_down_counter("queue.depth").add(-2)
        meter.create_observable_gauge("cpu.load", callbacks=[lambda _o: [Observation(0.5)]])
        # Exponential histograms: a wide range (the SDK picks a small scale) and a narrow one
        # (scale 20, downscaled to 8 here).
        recorded = {"payload_size_bytes": [0, 3, 5, 5, 1000, 1e6], "payload_ratio": [1.5, 1.5001, 1.5002]}
        for name, unit, values in (("payload.size", "By", recorded["payload_size_bytes"]),
                                   ("payload.ratio", "", recorded["payload_ratio"])):  # fmt: skip
            h = meter.create_histogram(name, unit=unit)
            for v in values:
                h.record(v, {"route": "/a"})
        assert provider.force_flush(10_000)
        provider.shutdown()
        client = TestClient(app)
        now = time.time()
        assert query(client, "orders_total", now) == [{"metric": {
            "__name__": "orders_total", "job": "shop", "instance": "i-1", "kind": "web"}, "value": "3"}]  # fmt: skip
        assert query(client, "queue_depth", now)[0]["value"] == "-2"
        assert query(client, "cpu_load", now)[0]["value"] == "0.5"
        assert query(client, "checkout_duration_seconds_count", now)[0]["value"] == "1"
        assert query(client, 'checkout_duration_seconds_bucket{le="+Inf"}', now)[0]["value"] == "1"
        assert query(client, "target_info", now)[0]["metric"]["region"] == "eu"
        rows = lake.sql(
            "SELECT metric, labels['route'] AS route, schema, count, sum, zero_count, positive_index, positive_count, "
            "st IS NOT NULL AS has_st FROM histograms JOIN series USING (series_id) ORDER BY metric, ts"
        ).to_dicts()
        latest = {r["metric"]: r for r in rows}  # force_flush and shutdown both export
        assert list(latest) == ["payload_ratio", "payload_size_bytes"]
        rows = list(latest.values())
        for r in rows:
            values = recorded[r["metric"]]
            assert (r["route"], r["count"], r["sum"], r["has_st"]) == ("/a", len(values), sum(values), True)
            assert r["zero_count"] == values.count(0)
            # Prometheus bucket n of schema s covers (2^((n-1)/2^s), 2^(n/2^s)].
            want: dict[int, float] = {}
            for v in (v for v in values if v):
                n = math.ceil(math.log2(v) * 2 ** r["schema"])
                want[n] = want.get(n, 0) + 1
            assert dict(zip(r["positive_index"], r["positive_count"], strict=True)) == want
        assert rows[0]["schema"] == 8 and rows[1]["schema"] < 8
    finally:
        server.should_exit = True
        thread.join(10)
        lake.close()
