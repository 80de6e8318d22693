"""PromQL over HTTP: /api/v1/query, query_range, format_query, parse_query, query_exemplars.

Parameter handling and error texts follow ``web/api/v1/api.go`` step by step (the order of
the checks decides which error a client sees first). The query is parsed here before it runs,
so a parse error is ``invalid parameter "query": ...`` (bad_data) as upstream, and a range
query of a range vector is refused the same way. Queries run on a worker thread with a
deadline (the ``timeout`` parameter, capped by ``--query.timeout``) that the engine enforces.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import anyio
import orjson
from fastapi import FastAPI, Request, Response

from promlake.api import ast_json
from promlake.api.envelope import (
    APIError,
    bad_data,
    from_exception,
    invalid_param,
    no_content,
    success,
    success_bytes,
)
from promlake.api.exemplars import query_exemplars
from promlake.api.params import (
    MAX_TIME_MS,
    MIN_TIME_MS,
    Params,
    now_ms,
    parse_duration,
    parse_duration_param,
    parse_limit,
    parse_lookback_delta,
    parse_required_time,
    parse_time_param,
)
from promlake.api.params import ParamError as _ParamError
from promlake.api.results import Grid, encode_result
from promlake.promql2sql.ast import Expr, VectorSelector, walk
from promlake.promql2sql.engine import Engine
from promlake.promql2sql.errors import ParseError
from promlake.promql2sql.gostr import go_quote
from promlake.promql2sql.limits import CancelToken
from promlake.promql2sql.parser import parse_expr
from promlake.promql2sql.printer import prettify
from promlake.promql2sql.result import QueryResult
from promlake.promql2sql.sample_count import SampleCounts
from promlake.promql2sql.signatures import ValueType

if TYPE_CHECKING:
    from promlake.api.app import ServerState

_GRACE_S = 1.0
MAX_POINTS = 11_000
_TRUNCATED = "results truncated due to limit"


def install_query_routes(app: FastAPI, state: ServerState) -> None:
    @app.api_route("/api/v1/query", methods=["GET", "POST"])
    async def instant_query(request: Request) -> Response:
        p = await Params.read(request)
        limit = parse_limit(p)
        t = parse_time_param(p, "time", now_ms())
        token = _token(p)
        engine = _engine(state, p)
        text = p.get("query")
        _parse_query(text)
        started = time.perf_counter()
        stats = bool(p.get("stats"))
        res = await _execute(request, lambda: engine.instant(text, t, token, stats), engine, token)
        return _answer(res, p, None, limit, started)

    @app.api_route("/api/v1/query_range", methods=["GET", "POST"])
    async def range_query(request: Request) -> Response:
        p = await Params.read(request)
        limit = parse_limit(p)
        start = parse_required_time(p, "start")
        end = parse_required_time(p, "end")
        if end < start:
            raise invalid_param("end", "end timestamp must not be before start time")
        try:
            step_ns = parse_duration(p.get("step"))
        except _ParamError as exc:
            raise invalid_param("step", str(exc)) from None
        if step_ns <= 0:
            raise invalid_param(
                "step",
                "zero or negative query resolution step widths are not accepted. Try a positive integer",
            )
        # end.Sub(start)/step: an integer quotient of durations, so 11000 steps (11001 points) pass.
        if (end - start) * 1_000_000 // step_ns > MAX_POINTS:
            raise bad_data(
                "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"
            )
        token = _token(p)
        engine = _engine(state, p)
        text = p.get("query")
        expr = _parse_query(text)
        if expr.type not in (ValueType.SCALAR, ValueType.VECTOR):
            message = f'invalid expression type "{expr.type.documented}" for range query, must be Scalar or instant Vector'
            raise invalid_param("query", message)
        step = max(step_ns // 1_000_000, 1)
        started = time.perf_counter()
        stats = bool(p.get("stats"))
        res = await _execute(request, lambda: engine.range(text, start, end, step, token, stats), engine, token)
        return _answer(res, p, Grid(start, step), limit, started)

    @app.api_route("/api/v1/format_query", methods=["GET", "POST"])
    async def format_query(request: Request) -> Response:
        p = await Params.read(request)
        return success(prettify(_parse_query(p.get("query"))))

    @app.api_route("/api/v1/parse_query", methods=["GET", "POST"])
    async def parse_query(request: Request) -> Response:
        p = await Params.read(request)
        return success(ast_json.translate(_parse_query(p.get("query"))))

    @app.api_route("/api/v1/query_exemplars", methods=["GET", "POST"])
    async def exemplars(request: Request) -> Response:
        p = await Params.read(request)
        start = parse_time_param(p, "start", MIN_TIME_MS)
        end = parse_time_param(p, "end", MAX_TIME_MS)
        if end < start:
            raise bad_data("end timestamp must not be before start timestamp")
        try:
            expr = parse_expr(p.get("query"))
        except ParseError as exc:
            raise bad_data(str(exc)) from None
        selectors = [n for n in walk(expr) if isinstance(n, VectorSelector)]
        if not selectors:
            return no_content()  # upstream answers a query without selectors with 204
        body = await anyio.to_thread.run_sync(lambda: query_exemplars(state.lake, selectors, start, end))
        return success_bytes(body)


def _parse_query(text: str) -> Expr:
    try:
        return parse_expr(text)
    except ParseError as exc:
        raise invalid_param("query", str(exc)) from None


def _token(p: Params) -> CancelToken:
    """The query's cancel handle; the ``timeout`` parameter is its deadline (the engine caps
    it by ``--query.timeout``)."""
    timeout_ns = parse_duration_param(p, "timeout")
    return CancelToken(None if timeout_ns is None else timeout_ns / 1e9)


def _engine(state: ServerState, p: Params) -> Engine:
    lookback = parse_lookback_delta(p)
    # promlake.server.Server builds engines under its --query.* flags (one pool of query slots).
    query_engine = getattr(state, "query_engine", None)
    if query_engine is not None:
        engine: Engine = query_engine(lookback)
        return engine
    return Engine(state.lake) if lookback is None else Engine(state.lake, lookback_delta_ms=lookback)


async def _execute(
    request: Request, run: Callable[[], QueryResult], engine: Engine, token: CancelToken
) -> QueryResult:
    """Run the query on a worker thread; cancel it when the client goes away.

    The engine enforces the deadline itself (it interrupts DuckDB, ``promql2sql/limits.py``).
    The wait here gives up a second later still, so a query stuck where no interrupt reaches
    cannot hold the request forever.
    """
    deadline = engine.limits.timeout_s if token.deadline is None else token.deadline - time.monotonic()
    result: QueryResult | None = None
    failure: BaseException | None = None
    async with anyio.create_task_group() as tg:
        tg.start_soon(_cancel_on_disconnect, request, token)
        try:  # errors are caught here, so the task group never wraps them in an ExceptionGroup
            with anyio.fail_after(max(deadline, 0) + _GRACE_S):
                result = await anyio.to_thread.run_sync(run, abandon_on_cancel=True)
        except Exception as exc:
            failure = exc
        finally:
            tg.cancel_scope.cancel()
    if isinstance(failure, TimeoutError):
        token.cancel()
        raise APIError("timeout", "query timed out in expression evaluation")
    if failure is not None:
        raise from_exception(failure) from failure
    assert result is not None
    return result


async def _cancel_on_disconnect(request: Request, token: CancelToken) -> None:
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            token.cancel()  # the query fails with "canceled" (no one reads the answer)
            return


def _answer(res: QueryResult, p: Params, grid: Grid | None, limit: int, started: float) -> Response:
    body, truncated = encode_result(res, grid=grid, limit=limit)
    warnings = list(res.warnings)
    if truncated:
        warnings.append(_TRUNCATED)
    stats = p.get("stats")
    if stats not in ("", "true", "all"):
        warnings.append(
            f'value {go_quote(stats)} for parameter "stats" is deprecated and will be rejected in the next major release, use "true" or "all"'
        )
    if stats:
        body += b',"stats":' + orjson.dumps(_stats(time.perf_counter() - started, res.samples))
    return success_bytes(b"{" + body + b"}", warnings, list(res.infos))


def _stats(seconds: float, samples: SampleCounts | None) -> dict[str, object]:
    """``stats.NewQueryStats``: timings, and the engine's exact sample counts.

    ``samplesRead`` is the stored samples the query's selectors read, each once (Prometheus
    3.13's storage-I/O count); ``peakSamples`` is the total ``--query.max-samples`` checks
    (promql2sql/sample_count.py). ``totalQueryableSamples`` (samples per evaluation step,
    counted again in every range window they fall in) would need per-step counts this
    engine does not produce, so it is left out rather than reported as a number it is not;
    so are the per-step lists of ``stats=all``. The one statement compiles and runs whole,
    so every timing but the total is not measured apart and reads 0.
    """
    counted = {} if samples is None else {"samplesRead": samples.read, "peakSamples": samples.peak}
    return {
        "timings": {
            "evalTotalTime": seconds,
            "resultSortTime": 0,
            "queryPreparationTime": 0,
            "innerEvalTime": seconds,
            "execQueueTime": 0,
            "execTotalTime": seconds,
        },
        "samples": counted,
    }
