"""/api/v1/series, /labels, /label/<name>/values and /metadata.

Checks run in upstream's order (``web/api/v1/api.go``), so the first error a client sees is
the one Prometheus would give. ``limit`` cuts the answer and adds the warning
``results truncated due to limit``; 0 means no limit. Metric metadata comes from what remote
write stored (``Lake.metadata``, and the lake's ``metadata/metadata.parquet`` for families
not seen since the lake was opened).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
import pyarrow.parquet as pq
from fastapi import FastAPI, Request, Response

from promlake.api.envelope import APIError, bad_data, success, success_bytes
from promlake.api.params import (
    MAX_TIME_MS,
    MIN_TIME_MS,
    Params,
    parse_count,
    parse_limit,
    parse_time_param,
    unescape_name,
)
from promlake.api.series import SeriesReader, parse_match_param
from promlake.engine import Lake

if TYPE_CHECKING:
    from promlake.api.app import ServerState

_TRUNCATED = "results truncated due to limit"


def install_metadata_routes(app: FastAPI, state: ServerState) -> None:
    @app.api_route("/api/v1/series", methods=["GET", "POST"])
    async def series(request: Request) -> Response:
        p = await Params.read(request)
        matches = p.getlist("match[]")
        if not matches:
            raise bad_data("no match[] parameter provided")
        limit = parse_limit(p)
        start = parse_time_param(p, "start", MIN_TIME_MS)
        end = parse_time_param(p, "end", MAX_TIME_MS)
        sets = parse_match_param(matches, "match[]")
        body, truncated = await anyio.to_thread.run_sync(
            lambda: SeriesReader(state.lake).series_json(sets, start, end, limit)
        )
        return success_bytes(body, [_TRUNCATED] if truncated else [])

    @app.api_route("/api/v1/labels", methods=["GET", "POST"])
    async def labels(request: Request) -> Response:
        p = await Params.read(request)
        limit = parse_limit(p)
        start = parse_time_param(p, "start", MIN_TIME_MS)
        end = parse_time_param(p, "end", MAX_TIME_MS)
        sets = parse_match_param(p.getlist("match[]"), None)
        names = await anyio.to_thread.run_sync(lambda: SeriesReader(state.lake).label_names(sets, start, end))
        return _limited(names, limit)

    @app.get("/api/v1/label/{name}/values")
    async def label_values(request: Request, name: str) -> Response:
        name = unescape_name(name)
        if name == "":  # UTF-8 validation: any non-empty valid UTF-8 string is a label name
            raise bad_data('invalid label name: ""')
        p = await Params.read(request)
        limit = parse_limit(p)
        start = parse_time_param(p, "start", MIN_TIME_MS)
        end = parse_time_param(p, "end", MAX_TIME_MS)
        sets = parse_match_param(p.getlist("match[]"), None)
        values = await anyio.to_thread.run_sync(
            lambda: SeriesReader(state.lake).label_values(name, sets, start, end)
        )
        return _limited(values, limit)

    @app.get("/api/v1/metadata")
    async def metadata(request: Request) -> Response:
        p = await Params.read(request)
        limit = parse_count(p, "limit")
        per_metric = parse_count(p, "limit_per_metric")
        metric = p.get("metric")
        families = await anyio.to_thread.run_sync(lambda: stored_metadata(state.lake))
        out: dict[str, list[dict[str, str]]] = {}
        for name in sorted(families):
            if metric and name != metric:
                continue
            if limit >= 0 and len(out) >= limit:
                break
            entries = families[name]
            out[name] = entries[:per_metric] if per_metric > 0 else entries
        return success(out)


def _limited(items: list[str], limit: int) -> Response:
    if 0 < limit < len(items):
        return success(items[:limit], [_TRUNCATED])
    return success(items)


def stored_metadata(lake: Lake) -> dict[str, list[dict[str, str]]]:
    """Metric family -> [{type, help, unit}], the lake file first, then what arrived since."""
    found: dict[str, dict[str, str]] = {}
    path = lake.root / "metadata" / "metadata.parquet"
    try:
        for row in pq.read_table(path).to_pylist():
            found[row["metric"]] = {"type": row["type"], "help": row["help"], "unit": row["unit"]}
    except FileNotFoundError:
        pass
    except Exception as exc:  # an unreadable file: say so rather than answer half the truth
        raise APIError("internal", f"reading {path}: {exc}") from exc
    for name, m in list(lake.metadata.items()):
        found[name] = {"type": m.type, "help": m.help, "unit": m.unit}
    return {name: [entry] for name, entry in found.items()}
