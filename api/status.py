"""/api/v1/status/*, and the endpoints of subsystems that do not exist yet.

``status/tsdb`` is computed from the series index: the lake has no head/block split of
series counts, so ``headStats`` describes the whole lake (every indexed series, the oldest
and newest sample). ``chunkCount`` is 0: the lake stores no chunks. Targets, scrape pools,
rules, alerts and Alertmanagers answer the empty shapes Prometheus gives with nothing
configured, until scraping and rule evaluation land.
"""

from __future__ import annotations

import os
import platform
import re
import socket
import threading
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import anyio
import polars as pl
import pyarrow.compute as pc
from fastapi import FastAPI, Request, Response

from promlake import __version__
from promlake.api.envelope import bad_data, success
from promlake.api.params import Params
from promlake.engine import Lake
from promlake.promql2sql.durations import format_duration

if TYPE_CHECKING:
    from promlake.api.app import ServerState

_STARTED = time.time()
_INT64_MAX = 2**63 - 1
_INT64_MIN = -(2**63)
MAX_TSDB_LIMIT = 10_000


def install_status_routes(app: FastAPI, state: ServerState) -> None:
    @app.get("/api/v1/status/buildinfo")
    def buildinfo() -> Response:
        # No "features" key: Grafana reads one as "this is Mimir" (reference §2.2).
        return success(
            {
                "version": __version__,
                "revision": "",
                "branch": "",
                "buildUser": "promlake",
                "buildDate": "",
                "goVersion": f"python{platform.python_version()}",
            }
        )

    @app.get("/api/v1/status/runtimeinfo")
    def runtimeinfo() -> Response:
        return success(runtime_info(state))

    @app.get("/api/v1/status/flags")
    def flags() -> Response:
        opts = getattr(state, "opts", None)
        raw: dict[str, Any] = dict(getattr(opts, "flags", {}) or {})
        return success({k: _flag_value(v) for k, v in sorted(raw.items()) if k != "command"})

    @app.get("/api/v1/status/config")
    def config() -> Response:
        cfg = getattr(state, "config", None)
        return success({"yaml": getattr(cfg, "text", "")})

    @app.get("/api/v1/status/walreplay")
    def walreplay() -> Response:
        report = state.lake.replay_report
        return success({"min": 0, "max": report.segments, "current": report.segments})

    @app.get("/api/v1/status/tsdb")
    async def tsdb(request: Request) -> Response:
        p = await Params.read(request)
        limit = 10
        text = p.get("limit")
        if text != "":
            limit = int(text) if re.fullmatch(r"[+-]?\d{1,18}", text) else 0
            if limit < 1:
                raise bad_data("limit must be a positive number")
            if limit > MAX_TSDB_LIMIT:
                raise bad_data(f"limit must not exceed {MAX_TSDB_LIMIT}")
        return success(await anyio.to_thread.run_sync(lambda: tsdb_status(state.lake, limit)))

    @app.get("/api/v1/targets")
    def targets(request: Request) -> Response:
        state_param = request.query_params.get("state", "").lower()
        out: dict[str, Any] = {"activeTargets": [], "droppedTargets": []}
        if state_param in ("", "any", "dropped"):
            out["droppedTargetCounts"] = {}
        return success(out)

    @app.get("/api/v1/targets/metadata")
    def targets_metadata() -> Response:
        return success([])

    @app.get("/api/v1/scrape_pools")
    def scrape_pools() -> Response:
        return success({"scrapePools": []})

    @app.get("/api/v1/rules")
    def rules() -> Response:
        return success({"groups": []})

    @app.get("/api/v1/alerts")
    def alerts() -> Response:
        return success({"alerts": []})

    @app.get("/api/v1/alertmanagers")
    def alertmanagers() -> Response:
        return success({"activeAlertmanagers": [], "droppedAlertmanagers": []})


def _flag_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None or value == "None":
        return ""
    if value in ("True", "False"):
        return value.lower()
    return str(value)


def go_time(seconds: float, nanos: bool = True) -> str:
    """A Go ``time.Time`` in JSON: RFC3339 in UTC, nanoseconds with trailing zeros dropped."""
    ns = round(seconds * 1e9)
    whole, frac = divmod(ns, 1_000_000_000)
    text = datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    if nanos and frac:
        text += "." + f"{frac:09d}".rstrip("0")
    return text + "Z"


def _bytes_text(n: int) -> str:
    """``units.Base2Bytes.String()``: ``10GiB``, ``1GiB512MiB``."""
    units = ["EiB", "PiB", "TiB", "GiB", "MiB", "KiB"]
    out = ""
    for i, unit in enumerate(units):
        size = 1024 ** (len(units) - i)
        if n >= size:
            out += f"{n // size}{unit}"
            n %= size
    return out + (f"{n}B" if n or not out else "")


def runtime_info(state: ServerState) -> dict[str, Any]:
    opts = getattr(state, "opts", None)
    retention_ms = getattr(opts, "retention_ms", None)
    retention_bytes = getattr(opts, "retention_bytes", None)
    retention = format_duration(retention_ms) if retention_ms else ""
    if retention_bytes:
        retention = (retention + " or " if retention else "") + _bytes_text(retention_bytes)
    registry = state.metrics.registry
    reload_ok = registry.get_sample_value("prometheus_config_last_reload_successful")
    reload_time = registry.get_sample_value("prometheus_config_last_reload_success_timestamp_seconds")
    corruptions = registry.get_sample_value("prometheus_tsdb_wal_corruptions_total")
    return {
        "startTime": go_time(_STARTED),
        "CWD": os.getcwd(),
        "hostname": socket.gethostname(),
        "serverTime": go_time(time.time()),
        "reloadConfigSuccess": bool(reload_ok) if reload_ok is not None else True,
        "lastConfigTime": go_time(reload_time or _STARTED, nanos=False),
        "corruptionCount": int(corruptions or 0),
        "goroutineCount": threading.active_count(),
        "GOMAXPROCS": os.cpu_count() or 1,
        "GOMEMLIMIT": _INT64_MAX,
        "GOGC": os.environ.get("GOGC", ""),
        "GODEBUG": os.environ.get("GODEBUG", ""),
        "storageRetention": retention,
    }


def _top(frame: pl.DataFrame, limit: int) -> list[dict[str, Any]]:
    """``[{name, value}]`` by value descending (ties by name), at most ``limit``."""
    rows = frame.sort(["value", "name"], descending=[True, False]).head(limit)
    return [{"name": n, "value": int(v)} for n, v in rows.iter_rows()]


def tsdb_status(lake: Lake, limit: int) -> dict[str, Any]:
    """Cardinality statistics of the series index (upstream's ``tsdb.Stats``)."""
    raw = pl.from_arrow(lake.index.labels())
    assert isinstance(raw, pl.DataFrame)
    labels = raw.with_columns(pl.col("name").cast(pl.String), pl.col("value").cast(pl.String))
    pairs = labels.group_by("name", "value").agg(pl.len().alias("series"))
    by_name = pairs.group_by("name").agg(
        pl.len().alias("values"), pl.col("value").str.len_bytes().sum().alias("bytes")
    )
    metric_counts = pairs.filter(pl.col("name") == "__name__").select(
        pl.col("value").alias("name"), pl.col("series").alias("value")
    )
    snap = lake.snapshot()
    mins = [b.mint for b in snap.blocks] + [
        int(pc.min(t["ts"]).as_py()) for _, t in snap.head_samples if t.num_rows
    ]
    maxs = [b.maxt for b in snap.blocks] + [
        int(pc.max(t["ts"]).as_py()) for _, t in snap.head_samples if t.num_rows
    ]
    return {
        "headStats": {
            "numSeries": len(lake.index),
            "numLabelPairs": pairs.height,
            "chunkCount": 0,
            "minTime": min(mins) if mins else _INT64_MAX,
            "maxTime": max(maxs) if maxs else _INT64_MIN,
        },
        "seriesCountByMetricName": _top(metric_counts, limit),
        "labelValueCountByLabelName": _top(by_name.select("name", pl.col("values").alias("value")), limit),
        "memoryInBytesByLabelName": _top(by_name.select("name", pl.col("bytes").alias("value")), limit),
        "seriesCountByLabelValuePair": _top(
            pairs.select(
                pl.concat_str("name", pl.lit("="), "value").alias("name"), pl.col("series").alias("value")
            ),
            limit,
        ),
    }
