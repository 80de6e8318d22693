"""``promlake serve``: the composition root that wires lake, API and background work.

Start-up order follows Prometheus: load the configuration (refuse to start on error), open
the lake (replaying the WAL), then serve. SIGTERM/SIGINT stop the HTTP server, flush the head
to Parquet and exit, so a stopped server leaves a complete lake; SIGHUP reloads the config.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import uvicorn

from promlake import config as cfg
from promlake.api.app import create_app
from promlake.engine import Lake
from promlake.ingest.pushgateway import PushIngester, PushStore
from promlake.promql2sql.engine import Engine
from promlake.promql2sql.limits import QueryLimits
from promlake.selfmon import Metrics, SelfRecorder

log = logging.getLogger("promlake")


@dataclass(frozen=True)
class ServeOptions:
    config_file: str | None
    storage_path: str
    listen_address: str
    retention_ms: int | None
    retention_bytes: int | None
    enable_lifecycle: bool
    enable_admin_api: bool
    flush_interval_ms: int
    head_flush_min_bytes: int
    compaction_interval_ms: int
    wal_fsync: str
    record_self: bool
    flags: dict[str, str]
    # --query.timeout/max-samples/max-concurrency: one object, so one pool of query slots.
    query_limits: QueryLimits = field(default_factory=QueryLimits)
    lookback_delta_ms: int = 300_000  # --query.lookback-delta


def load_config(path: str | None) -> cfg.Config:
    if path is None:
        return cfg.load(cfg.default_config_text(), source="<embedded default>")
    return cfg.load_file(path)


class Server:
    """One promlake server process."""

    def __init__(self, opts: ServeOptions) -> None:
        self.opts = opts
        self.config = load_config(opts.config_file)
        self.lake = Lake(
            opts.storage_path,
            retention_ms=opts.retention_ms,
            retention_bytes=opts.retention_bytes,
            wal_fsync=opts.wal_fsync,
            head_flush_min_bytes=opts.head_flush_min_bytes,
        )
        self.metrics = Metrics(self.lake)
        self.metrics.wal_corruptions.inc(len(self.lake.replay_report.corrupt_segments))
        self.metrics.reload_ok.set(1)
        self.metrics.reload_time.set(time.time())
        self.lifecycle_enabled = opts.enable_lifecycle
        self.admin_enabled = opts.enable_admin_api
        self.ready = False
        self._stop = threading.Event()
        host, _, port = opts.listen_address.rpartition(":")
        self.host, self.port = host or "0.0.0.0", int(port)
        self.query_limits = opts.query_limits
        self.pushgateway = PushStore(self.lake.root)
        self.app = create_app(self)
        self._uvicorn: uvicorn.Server | None = None

    def query_engine(self, lookback_delta_ms: int | None = None) -> Engine:
        """The PromQL engine under the --query.* flags (a request may override the lookback)."""
        lookback = self.opts.lookback_delta_ms if lookback_delta_ms is None else lookback_delta_ms
        return Engine(self.lake, lookback_delta_ms=lookback, limits=self.query_limits)

    # --- lifecycle ---------------------------------------------------------------------
    def reload(self) -> None:
        """Re-read the configuration; on error keep the running one and raise."""
        try:
            new = load_config(self.opts.config_file)
        except cfg.ConfigError:
            self.metrics.reload_ok.set(0)
            raise
        self.config = new
        self.metrics.reload_ok.set(1)
        self.metrics.reload_time.set(time.time())
        log.info("configuration reloaded from %s", new.source)

    def quit(self) -> None:
        if self._uvicorn is not None:
            self._uvicorn.should_exit = True

    def _maintenance(self) -> None:
        """Flush the head, compact and apply retention on their own schedules."""
        next_compact = time.monotonic() + self.opts.compaction_interval_ms / 1000
        while not self._stop.wait(self.opts.flush_interval_ms / 1000):
            try:
                if self.lake.flush():
                    self.metrics.flushes.inc()
            except Exception:
                self.metrics.flush_failures.inc()
                log.exception("head flush failed; the data stays in the head and the WAL")
            if time.monotonic() >= next_compact:
                next_compact = time.monotonic() + self.opts.compaction_interval_ms / 1000
                try:
                    made = self.lake.compact()
                    self.metrics.compactions.inc(len(made))
                    self.lake.apply_retention()
                except Exception:
                    log.exception("compaction or retention failed; will retry")

    def run(self) -> None:
        config = uvicorn.Config(
            self.app, host=self.host, port=self.port, log_level="warning", access_log=False, lifespan="off"
        )
        server = uvicorn.Server(config)
        self._uvicorn = server
        maintenance = threading.Thread(target=self._maintenance, name="maintenance", daemon=True)
        maintenance.start()
        pushes = PushIngester(self.pushgateway, self.lake, lambda: self.config.scrape_interval_ms / 1000)
        pushes.start()
        recorder = None
        if self.opts.record_self:
            recorder = SelfRecorder(
                self.lake, self.metrics, f"localhost:{self.port}", lambda: self.config.scrape_interval_ms / 1000
            )
            recorder.start()
        signal.signal(signal.SIGHUP, self._on_sighup)
        # uvicorn turns SIGTERM/SIGINT into a graceful stop, then re-raises the signal to the
        # handler that was installed before it: make that one a no-op, so the flush below runs
        # and the process exits 0 the way Prometheus does.
        signal.signal(signal.SIGTERM, lambda _s, _f: None)
        signal.signal(signal.SIGINT, lambda _s, _f: None)
        self.ready = True
        self.metrics.ready.set(1)
        log.info("promlake listening on %s:%d, lake %s", self.host, self.port, Path(self.opts.storage_path).resolve())
        try:
            server.run()  # returns on SIGTERM/SIGINT (uvicorn's handlers) or /-/quit
        finally:
            self.ready = False
            self._stop.set()
            pushes.stop.set()
            pushes.join(timeout=5)
            if recorder is not None:
                recorder.stop.set()
                recorder.join(timeout=5)
            maintenance.join(timeout=60)
            log.info("flushing the head to Parquet before exit")
            self.lake.close()
            log.info("promlake stopped; the lake is complete")

    def _on_sighup(self, _sig: int, _frame: FrameType | None) -> None:
        try:
            self.reload()
        except cfg.ConfigError as exc:
            log.error("error reloading config: %s", exc)
