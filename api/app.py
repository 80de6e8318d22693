"""The FastAPI application: Prometheus's management endpoints, /metrics, and the write path.

The app holds no storage or PromQL logic: it calls the ``ServerState`` it is given (the
composition root in ``promlake.server`` builds one).
"""

from __future__ import annotations

from typing import Protocol

from fastapi import FastAPI, Request, Response
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from promlake.api.federate import install_federate_routes
from promlake.api.otlp import install_otlp_routes
from promlake.api.pushgateway import install_pushgateway_routes
from promlake.api.v1 import install_api_v1
from promlake.api.write import install_write_routes
from promlake.engine import Lake
from promlake.selfmon import Metrics


class ServerState(Protocol):
    lake: Lake
    metrics: Metrics
    lifecycle_enabled: bool
    ready: bool

    def reload(self) -> None: ...

    def quit(self) -> None: ...


def create_app(state: ServerState) -> FastAPI:
    app = FastAPI(title="promlake", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.server = state

    @app.api_route("/-/healthy", methods=["GET", "HEAD"])
    def healthy() -> Response:
        return PlainTextResponse("Prometheus is Healthy.\n")

    @app.api_route("/-/ready", methods=["GET", "HEAD"])
    def ready() -> Response:
        if not state.ready:
            return PlainTextResponse("Service Unavailable", status_code=503)
        return PlainTextResponse("Prometheus is Ready.\n")

    @app.api_route("/-/reload", methods=["GET", "POST", "PUT"])
    def reload(request: Request) -> Response:
        refused = _lifecycle_refusal(state, request)
        if refused is not None:
            return refused
        try:
            state.reload()
        except Exception as exc:  # the old configuration stays active
            return PlainTextResponse(f"failed to reload config: {exc}", status_code=500)
        return PlainTextResponse("")

    @app.api_route("/-/quit", methods=["GET", "POST", "PUT"])
    def quit_(request: Request) -> Response:
        refused = _lifecycle_refusal(state, request)
        if refused is not None:
            return refused
        state.quit()
        return PlainTextResponse("Requesting termination... Goodbye!")

    @app.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    install_write_routes(app, state)
    install_otlp_routes(app, state)
    install_pushgateway_routes(app, state)
    install_federate_routes(app, state)
    install_api_v1(app, state)
    return app


def _lifecycle_refusal(state: ServerState, request: Request) -> Response | None:
    if request.method not in ("POST", "PUT"):
        return PlainTextResponse("Only POST or PUT requests allowed", status_code=405)
    if not state.lifecycle_enabled:
        return PlainTextResponse("Lifecycle API is not enabled.", status_code=403)
    return None
