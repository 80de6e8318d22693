"""The one response envelope of the HTTP API, for successes and every kind of error.

Success: ``{"status":"success","data":...}`` plus ``"warnings"``/``"infos"`` only when
non-empty. Error: ``{"status":"error","errorType":...,"error":...}`` with Prometheus's status
code for the type (``web/api/v1/api.go`` ``getDefaultErrorCode``). Grafana reads the body, not
the status, so FastAPI's own answers (unknown path, wrong method, request validation, an
unexpected exception) are turned into this envelope too for every ``/api/`` path.

Engine errors carry their ``errorType`` as an ``error_type`` attribute
(``promql2sql/errors.py``); exceptions without one fall back by class.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import orjson
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import PlainTextResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from promlake.api.encode import go_json
from promlake.engine.errors import StorageError
from promlake.engine.matchers import MatcherError

JSON = "application/json"

# Prometheus's errorType -> HTTP status. "canceled" is 499 (nginx's "client closed request")
# since Prometheus 2.43; its docs still say 503. "unavailable" has no mapping upstream, so it
# falls through to 500 there too.
STATUS = {
    "bad_data": 400,
    "execution": 422,
    "canceled": 499,
    "timeout": 503,
    "internal": 500,
    "unavailable": 500,
    "not_found": 404,
    "not_acceptable": 406,
}

MAX_ANNOTATIONS = 10  # Annotations.AsStrings(query, 10, 10)


class APIError(Exception):
    """An error answer: ``error_type`` is Prometheus's errorType, ``str()`` the message."""

    def __init__(
        self,
        error_type: str,
        message: str,
        *,
        status: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.status = status if status is not None else STATUS.get(error_type, 500)
        self.headers = headers


def bad_data(message: str) -> APIError:
    return APIError("bad_data", message)


def invalid_param(name: str, message: str) -> APIError:
    """``invalidParamError``: ``invalid parameter "time": ...`` (bad_data)."""
    return bad_data(f'invalid parameter "{name}": {message}')


def from_exception(exc: BaseException) -> APIError:
    """The API error for anything a handler or the engine raised."""
    if isinstance(exc, APIError):
        return exc
    error_type = getattr(exc, "error_type", None)
    if isinstance(error_type, str) and error_type in STATUS:
        return APIError(error_type, str(exc))
    if isinstance(exc, TimeoutError):
        return APIError("timeout", str(exc) or "query timed out")
    if isinstance(exc, MatcherError):
        return bad_data(str(exc))
    if isinstance(exc, StorageError):
        return APIError("internal", str(exc))
    return APIError("internal", f"{type(exc).__name__}: {exc}")


def _annotations(key: str, items: Sequence[str], kind: str) -> bytes:
    if not items:
        return b""
    shown = list(items[:MAX_ANNOTATIONS])
    if len(items) > MAX_ANNOTATIONS:
        shown.append(f"{len(items) - MAX_ANNOTATIONS} more {kind} annotations omitted")
    return b',"' + key.encode() + b'":' + _dumps(shown)


def _dumps(obj: Any) -> bytes:
    return go_json(orjson.dumps(obj).decode()).encode()


def success_bytes(data: bytes, warnings: Sequence[str] = (), infos: Sequence[str] = ()) -> Response:
    """200 with ``data`` already encoded as JSON."""
    body = b"".join(
        (
            b'{"status":"success","data":',
            data,
            _annotations("warnings", warnings, "warning"),
            _annotations("infos", infos, "info"),
            b"}",
        )
    )
    return Response(body, media_type=JSON)


def success(data: Any, warnings: Sequence[str] = (), infos: Sequence[str] = ()) -> Response:
    """200 with ``data`` encoded here (small, Python-object answers)."""
    return success_bytes(_dumps(data), warnings, infos)


def error_response(err: APIError) -> Response:
    body = {"status": "error", "errorType": err.error_type, "error": err.message}
    return Response(_dumps(body), status_code=err.status, media_type=JSON, headers=err.headers)


def no_content() -> Response:
    return Response(status_code=204)


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def install_error_handlers(app: FastAPI) -> None:
    """FastAPI's default error bodies replaced: the envelope under /api/, Go's texts elsewhere."""

    @app.exception_handler(APIError)
    async def api_error(_request: Request, exc: APIError) -> Response:
        return error_response(exc)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        headers = dict(exc.headers or {})
        if exc.status_code == 404:
            if _is_api(request):
                return error_response(APIError("not_found", "404 page not found", headers=headers))
            return PlainTextResponse("404 page not found\n", status_code=404, headers=headers)
        if exc.status_code == 405:
            if _is_api(request):
                return error_response(
                    APIError(
                        "bad_data",
                        f"method {request.method} not allowed for {request.url.path}",
                        status=405,
                        headers=headers,
                    )
                )
            return PlainTextResponse("Method Not Allowed\n", status_code=405, headers=headers)
        if _is_api(request):
            error_type = next((t for t, code in STATUS.items() if code == exc.status_code), "internal")
            return error_response(
                APIError(error_type, str(exc.detail), status=exc.status_code, headers=headers)
            )
        return PlainTextResponse(str(exc.detail), status_code=exc.status_code, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> Response:
        return error_response(bad_data(_validation_message(exc.errors())))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        if _is_api(request):
            return error_response(from_exception(exc))
        return PlainTextResponse("Internal Server Error", status_code=500)


def _validation_message(errors: Iterable[Any]) -> str:
    parts = []
    for e in errors:
        where = ".".join(str(x) for x in e.get("loc", ()) if x not in ("query", "body", "path"))
        parts.append(
            f'invalid parameter "{where}": {e.get("msg", "invalid value")}' if where else str(e.get("msg"))
        )
    return "; ".join(parts) or "invalid request"
