"""The admin TSDB API behind ``--web.enable-admin-api`` (``web/api/v1/api.go`` in Prometheus).

``POST|PUT /api/v1/admin/tsdb/delete_series`` (``match[]``, ``start``, ``end``) and
``clean_tombstones`` answer 204; ``snapshot`` (``skip_head``) answers ``{"name": ...}`` and
leaves a readable lake in ``<storage>/snapshots/<name>/``. Checked against Prometheus 2.42
(source and binary): with the flag off every one answers errorType ``unavailable``, "admin
APIs disabled", HTTP 500 (the type has no status of its own upstream); parameters are checked
in upstream's order with its texts. Other methods get 405 in the project's JSON envelope
(upstream: plain-text "Method Not Allowed").

Unlike upstream, every ``match[]`` is parsed before anything is deleted, so a bad request
deletes nothing (upstream deletes selector by selector and stops at the first bad one).
"""

from __future__ import annotations

import secrets
import time
from typing import TYPE_CHECKING

import anyio
from fastapi import FastAPI, Request, Response

from promlake.api.envelope import APIError, bad_data, invalid_param, no_content, success
from promlake.api.params import MAX_TIME_MS, MIN_TIME_MS, Params, parse_time_param
from promlake.api.series import parse_metric_selector
from promlake.engine import backup, tombstones
from promlake.engine.matchers import LabelMatcher, MatcherError, compile_matcher
from promlake.promql2sql.errors import ParseError
from promlake.promql2sql.gostr import go_quote

if TYPE_CHECKING:
    from promlake.api.app import ServerState

_METHODS = ["POST", "PUT"]
# strconv.ParseBool's spellings.
_BOOLS = {
    **dict.fromkeys(("1", "t", "T", "TRUE", "true", "True"), True),
    **dict.fromkeys(("0", "f", "F", "FALSE", "false", "False"), False),
}


def install_admin_routes(app: FastAPI, state: ServerState) -> None:
    @app.api_route("/api/v1/admin/tsdb/delete_series", methods=_METHODS)
    async def delete_series(request: Request) -> Response:
        _require_admin(state)
        p = await Params.read(request)
        matches = p.getlist("match[]")
        if not matches:
            raise bad_data("no match[] parameter provided")
        start = parse_time_param(p, "start", MIN_TIME_MS)
        end = parse_time_param(p, "end", MAX_TIME_MS)
        sets = [_selector(text) for text in matches]
        await anyio.to_thread.run_sync(lambda: tombstones.delete_series(state.lake, sets, start, end))
        return no_content()

    @app.api_route("/api/v1/admin/tsdb/clean_tombstones", methods=_METHODS)
    async def clean_tombstones(_request: Request) -> Response:
        _require_admin(state)
        await anyio.to_thread.run_sync(lambda: tombstones.clean_tombstones(state.lake))
        return no_content()

    @app.api_route("/api/v1/admin/tsdb/snapshot", methods=_METHODS)
    async def snapshot(request: Request) -> Response:
        _require_admin(state)
        p = await Params.read(request)
        skip_head = _parse_bool(p, "skip_head")
        name = snapshot_name()
        dest = state.lake.root / "snapshots" / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            await anyio.to_thread.run_sync(lambda: backup.write_snapshot(state.lake, dest, not skip_head))
        except OSError as exc:
            raise APIError("internal", f"create snapshot: {exc}") from exc
        return success({"name": name})


def _require_admin(state: ServerState) -> None:
    # A state built without the flag (tests, embedded use) keeps the API off, as upstream's default.
    if not getattr(state, "admin_enabled", False):
        raise APIError("unavailable", "admin APIs disabled")


def _selector(text: str) -> list[LabelMatcher]:
    """``parser.ParseMetricSelector`` only: unlike the series endpoints, delete_series accepts
    selectors whose matchers all match the empty string (``{job=~".*"}`` deletes everything)."""
    try:
        return [compile_matcher(m.name, m.op, m.value) for m in parse_metric_selector(text)]
    except (ParseError, MatcherError) as exc:
        raise invalid_param("match[]", str(exc)) from None


def _parse_bool(p: Params, name: str) -> bool:
    text = p.get(name)
    if text == "":
        return False
    if text not in _BOOLS:
        message = f"unable to parse boolean: strconv.ParseBool: parsing {go_quote(text)}: invalid syntax"
        raise invalid_param(name, message)
    return _BOOLS[text]


def snapshot_name() -> str:
    """``<UTC time as 20060102T150405Z>-<16 hex digits of a random non-negative int63>``."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + f"-{secrets.randbits(63):016x}"
