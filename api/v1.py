"""The Prometheus HTTP API v1 on a FastAPI app: routes, error envelope, CORS, gzip, readiness.

``install_api_v1(app, state)`` is the one call ``create_app`` makes. Around every
``/api/v1/`` request (``util/httputil/cors.go``, ``web/web.go``):

* ``Vary: Origin`` always; with an ``Origin`` header the CORS headers and
  ``Access-Control-Allow-Origin: *`` (the default ``--web.cors.origin=.*``);
* ``OPTIONS`` answers 204 with those headers;
* before the server is ready, 503 ``Service Unavailable`` in plain text (not the envelope,
  as upstream), except ``status/walreplay`` which is there to watch start-up;
* gzip when the client accepts it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import FastAPI
from starlette.middleware.gzip import GZipMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from promlake.api.admin import install_admin_routes
from promlake.api.envelope import install_error_handlers
from promlake.api.metadata import install_metadata_routes
from promlake.api.query import install_query_routes
from promlake.api.status import install_status_routes

if TYPE_CHECKING:
    from promlake.api.app import ServerState

PREFIX = "/api/v1/"
CORS_HEADERS = [
    (b"access-control-allow-headers", b"Accept, Authorization, Content-Type, Origin"),
    (b"access-control-allow-methods", b"GET, POST, OPTIONS"),
    (b"access-control-expose-headers", b"Date"),
    (b"access-control-allow-origin", b"*"),
]
_ALWAYS_UP = ("/api/v1/status/walreplay",)


class APIMiddleware:
    """CORS, OPTIONS and the not-ready answer for /api/v1/ (pure ASGI: no body buffering)."""

    def __init__(self, app: ASGIApp, state: ServerState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope["path"]).startswith(PREFIX):
            await self.app(scope, receive, send)
            return
        extra = [(b"vary", b"Origin")]
        if any(k == b"origin" for k, _ in scope.get("headers", ())):
            extra += CORS_HEADERS
        if scope["method"] == "OPTIONS":
            await send({"type": "http.response.start", "status": 204, "headers": extra})
            await send({"type": "http.response.body", "body": b""})
            return
        if not self.state.ready and scope["path"] not in _ALWAYS_UP:
            headers = [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"x-prometheus-stopping", b"false"),
                *extra,
            ]
            await send({"type": "http.response.start", "status": 503, "headers": headers})
            await send({"type": "http.response.body", "body": b"Service Unavailable"})
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def install_api_v1(app: FastAPI, state: ServerState) -> None:
    install_error_handlers(app)
    install_query_routes(app, state)
    install_metadata_routes(app, state)
    install_status_routes(app, state)
    install_admin_routes(app, state)
    app.add_middleware(APIMiddleware, state=state)
    app.add_middleware(GZipMiddleware, minimum_size=256)
