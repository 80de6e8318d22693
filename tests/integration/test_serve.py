"""A real `promlake serve` process: management endpoints, self-metrics, signals."""

from __future__ import annotations

import signal
import time

from .conftest import http, sql, start_promlake


def test_health_ready_and_metrics(promlake_server):
    url = promlake_server.url
    assert http("GET", url + "/-/healthy")[:2] == (200, b"Prometheus is Healthy.\n")
    assert http("GET", url + "/-/ready")[:2] == (200, b"Prometheus is Ready.\n")
    status, body, headers = http("GET", url + "/metrics")
    assert status == 200 and headers["content-type"].startswith("text/plain")
    text = body.decode()
    assert "prometheus_tsdb_head_series " in text
    assert "process_resident_memory_bytes " in text


def test_lifecycle_endpoints_are_off_by_default(promlake_server):
    url = promlake_server.url
    assert http("POST", url + "/-/reload")[:2] == (403, b"Lifecycle API is not enabled.")
    assert http("GET", url + "/-/reload")[:2] == (405, b"Only POST or PUT requests allowed")
    assert http("PUT", url + "/-/quit")[0] == 403


def test_own_metrics_are_recorded_and_sigterm_leaves_a_complete_lake(tmp_path):
    lake = tmp_path / "lake"
    server = start_promlake(lake)
    time.sleep(1.0)  # the first recording happens at start
    assert server.stop(signal.SIGTERM) == 0
    assert not any((lake / "wal").glob("0*")) or all(p.stat().st_size < 64 for p in (lake / "wal").glob("0*")), (
        "after SIGTERM everything is in Parquet"
    )
    out = sql(lake, "SELECT metric, labels['job'] AS job, value FROM metrics WHERE metric = 'up'")
    assert out.splitlines()[1:] == ["up,promlake,1.0"]
    parquet = list((lake / "samples").rglob("*.parquet"))
    assert parquet, "the head was flushed to Parquet on SIGTERM"


def test_reload_with_a_bad_config_keeps_the_old_one(tmp_path):
    conf = tmp_path / "prometheus.yml"
    conf.write_text("global:\n  scrape_interval: 15s\n")
    server = start_promlake(tmp_path / "lake", f"--config.file={conf}", "--web.enable-lifecycle")
    try:
        conf.write_text("global:\n  scrape_interval: banana\n")
        status, body, _ = http("POST", server.url + "/-/reload")
        assert status == 500 and b"banana" in body
        metrics = http("GET", server.url + "/metrics")[1].decode()
        assert "prometheus_config_last_reload_successful 0.0" in metrics
        conf.write_text("global:\n  scrape_interval: 30s\n")
        server.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while "prometheus_config_last_reload_successful 1.0" not in http("GET", server.url + "/metrics")[1].decode():
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert http("POST", server.url + "/-/quit")[0] == 200
        assert server.proc.wait(60) == 0
    finally:
        server.stop()
