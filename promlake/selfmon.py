"""promlake's own metrics: served on /metrics and recorded into the lake.

The families use Prometheus's names where Prometheus has the same concept
(``prometheus_tsdb_head_series``, ``prometheus_config_last_reload_successful``, ...), so
existing dashboards and alerts for a Prometheus server work on promlake.

Until the scrape manager exists, the server records these samples itself every
``scrape_interval`` with ``job="promlake"`` and its listen address as ``instance``, which
is what scraping its own /metrics would store; a new install has data at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from promlake import __version__
from promlake.engine import Lake, SeriesBatch

log = logging.getLogger(__name__)


class LakeCollector:
    """Exports engine statistics under Prometheus's TSDB metric names."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake

    def collect(self) -> Iterable[Metric]:
        s = self.lake.stats()
        yield GaugeMetricFamily("prometheus_tsdb_head_series", "Total number of series in the head block.", value=s["head_series"])
        yield GaugeMetricFamily("prometheus_tsdb_blocks_loaded", "Number of currently loaded data blocks.", value=s["blocks"])
        yield GaugeMetricFamily("prometheus_tsdb_storage_blocks_bytes", "The number of bytes that are currently used for local storage by all blocks.", value=s["block_bytes"])
        yield GaugeMetricFamily("promlake_series", "Number of series in the series index (head and blocks).", value=s["series"])
        yield GaugeMetricFamily("promlake_head_samples", "Samples held in memory by the head.", value=s["head_samples"])
        yield GaugeMetricFamily("promlake_head_bytes", "Bytes of sample arrays held by the head.", value=s["head_bytes"])


class Metrics:
    """The registry behind /metrics, plus counters other parts of the server update."""

    def __init__(self, lake: Lake) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        self.registry.register(LakeCollector(lake))
        self.build_info = Gauge(
            "prometheus_build_info", "A metric with a constant '1' value labeled by version, revision, branch, and goversion from which prometheus was built.",
            ["version", "revision", "branch", "goversion"], registry=self.registry,
        )
        self.build_info.labels(__version__, "", "", "python").set(1)
        self.reload_ok = Gauge("prometheus_config_last_reload_successful", "Whether the last configuration reload attempt was successful.", registry=self.registry)
        self.reload_time = Gauge("prometheus_config_last_reload_success_timestamp_seconds", "Timestamp of the last successful configuration reload.", registry=self.registry)
        self.ready = Gauge("prometheus_ready", "Whether Prometheus startup was fully completed and the server is ready for normal operation.", registry=self.registry)
        self.appended = Counter("prometheus_tsdb_head_samples_appended", "Total number of appended samples.", ["type"], registry=self.registry)
        self.wal_corruptions = Counter("prometheus_tsdb_wal_corruptions", "Total number of WAL corruptions.", registry=self.registry)
        self.compactions = Counter("prometheus_tsdb_compactions", "Total number of compactions that were executed for the partition.", registry=self.registry)
        self.flushes = Counter("promlake_head_flushes", "Head generations written to Parquet.", registry=self.registry)
        self.flush_failures = Counter("promlake_head_flush_failures", "Head flushes that failed (the data stays in the head and WAL).", registry=self.registry)
        self.rw_requests = Counter("promlake_remote_write_requests", "Remote-write requests by outcome.", ["code"], registry=self.registry)

    def snapshot(self) -> tuple[SeriesBatch, np.ndarray]:
        """Every current sample as (label sets, values): a few hundred, not a hot path."""
        label_sets: list[dict[str, str]] = []
        values: list[float] = []
        for family in self.registry.collect():
            for s in family.samples:
                label_sets.append({"__name__": s.name, **s.labels})
                values.append(float(s.value))
        return SeriesBatch.from_dicts(label_sets), np.array(values, dtype=np.float64)


class SelfRecorder(threading.Thread):
    """Appends the server's own metrics to the lake every interval (see module docstring)."""

    def __init__(self, lake: Lake, metrics: Metrics, instance: str, interval_s: Callable[[], float]) -> None:
        super().__init__(name="self-recorder", daemon=True)
        self.lake, self.metrics, self.instance, self.interval_s = lake, metrics, instance, interval_s
        self.stop = threading.Event()

    def record_once(self) -> None:
        batch, values = self.metrics.snapshot()
        target = {"job": "promlake", "instance": self.instance}
        sets = [{**ls, **target} for ls in batch.to_dicts()]
        sets.append({"__name__": "up", **target})
        values = np.append(values, 1.0)
        now = int(time.time() * 1000)
        app = self.lake.appender()
        app.append(SeriesBatch.from_dicts(sets), np.arange(len(sets)), np.full(len(sets), now), values)
        app.commit()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self.record_once()
            except Exception:  # keep recording; the next round may succeed
                log.exception("recording own metrics failed")
            self.stop.wait(self.interval_s())
