"""POST /api/v1/write: the remote-write receiver (1.0 and 2.0, chosen by Content-Type).

Status codes follow Prometheus's receiver: 204 when stored; 400 for anything the sender
should not retry (bad snappy, bad protobuf, refused samples); 415 for an unknown format.
Never a 5xx for bad input, because senders retry 5xx forever.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import cramjam
from fastapi import FastAPI, Request, Response
from fastapi.responses import PlainTextResponse
from starlette.concurrency import run_in_threadpool

from promlake.engine.errors import StorageError
from promlake.engine.memory import release_soon
from promlake.ingest.remote_write import UnsupportedFormat, WriteError, store

if TYPE_CHECKING:
    from promlake.api.app import ServerState


def install_write_routes(app: FastAPI, state: ServerState) -> None:
    @app.post("/api/v1/write")
    async def write(request: Request) -> Response:
        body = await request.body()
        # Go's Header.Get gives "" for an absent and an empty header alike, and upstream's
        # receiver defaults both: an empty Content-Type is 1.0, an empty encoding snappy.
        ctype = request.headers.get("content-type") or "application/x-protobuf"
        encoding = request.headers.get("content-encoding") or "snappy"
        metrics = state.metrics
        if encoding.lower() != "snappy":
            metrics.rw_requests.labels("415").inc()
            return PlainTextResponse(
                f"unsupported compression: {encoding}. Only snappy is supported", status_code=415
            )
        try:
            raw = bytes(cramjam.snappy.decompress_raw(body))
        except Exception as exc:  # cramjam raises its own DecompressionError
            metrics.rw_requests.labels("400").inc()
            return PlainTextResponse(f"snappy decode error: {exc}", status_code=400)
        try:
            # In a worker thread: decoding a large body takes tens of ms, and on the event loop
            # it would hold up every other request (queries, health checks, other senders'
            # decoding); commits still take the lake's lock one at a time.
            result = await run_in_threadpool(store, state.lake, raw, ctype)
        except UnsupportedFormat as exc:
            metrics.rw_requests.labels("415").inc()
            return PlainTextResponse(str(exc), status_code=415)
        except (WriteError, StorageError, ValueError) as exc:
            metrics.rw_requests.labels("400").inc()
            return PlainTextResponse(str(exc), status_code=400)
        # Give the request's freed pages back to the OS once this burst of writes is over
        # (engine/memory.py: glibc keeps them otherwise).
        release_soon()
        metrics.rw_requests.labels("204").inc()
        metrics.appended.labels("float").inc(result.samples)
        if result.histograms:
            metrics.appended.labels("histogram").inc(result.histograms)
        headers = result.headers()
        return Response(status_code=204, headers=headers)
