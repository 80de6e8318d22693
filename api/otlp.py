"""POST /api/v1/otlp/v1/metrics: the OTLP/HTTP metrics receiver (protobuf and JSON).

Status codes follow Prometheus's OTLP handler: 200 with an (empty) ``ExportMetricsServiceResponse``
when stored; 400 for a malformed or untranslatable body, an unsupported Content-Encoding or
refused samples (nothing is stored then); 415 for a Content-Type other than
``application/x-protobuf`` or ``application/json`` (Prometheus answers that with 400).
Exponential histograms are stored as native histograms (ingest/otlp/exp_histograms.py).
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request, Response
from fastapi.responses import PlainTextResponse

from promlake.engine.errors import StorageError
from promlake.engine.memory import release_soon
from promlake.ingest.otlp.receiver import JSON, media_type, store
from promlake.ingest.remote_write import UnsupportedFormat, WriteError

if TYPE_CHECKING:
    from promlake.api.app import ServerState

# Upstream reads at most 32 MiB of (decompressed) body.
DECODE_READ_LIMIT = 32 * 1024 * 1024


def _response(mt: str) -> Response:
    """An empty ExportMetricsServiceResponse: every point is stored or the request refused
    (so there is never a partial_success to report)."""
    if mt == JSON:
        return Response(b"{}", status_code=200, media_type=JSON)
    return Response(b"", status_code=200, media_type="application/x-protobuf")


def _gunzip(data: bytes) -> bytes:
    """Decompress (possibly multi-member) gzip, at most DECODE_READ_LIMIT bytes out."""
    out = bytearray()
    while True:
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        out += d.decompress(data, DECODE_READ_LIMIT + 1 - len(out))
        if len(out) > DECODE_READ_LIMIT:
            raise ValueError(f"body larger than {DECODE_READ_LIMIT} bytes after decompression")
        if not d.eof:
            raise EOFError("truncated gzip stream")
        data = d.unused_data
        if not data:
            return bytes(out)


def install_otlp_routes(app: FastAPI, state: ServerState) -> None:
    @app.post("/api/v1/otlp/v1/metrics")
    async def otlp_metrics(request: Request) -> Response:
        body = await request.body()
        ctype = request.headers.get("content-type") or ""
        try:
            mt = media_type(ctype)
        except UnsupportedFormat as exc:
            return PlainTextResponse(str(exc), status_code=415)
        encoding = (request.headers.get("content-encoding") or "").lower()
        if encoding == "gzip":
            try:
                body = _gunzip(body)
            except (zlib.error, EOFError, ValueError) as exc:
                return PlainTextResponse(f"gzip decode error: {exc}", status_code=400)
        elif encoding:
            return PlainTextResponse(
                f'unsupported compression: {encoding}. Only "gzip" or no compression supported',
                status_code=400,
            )
        try:
            result = store(state.lake, body, ctype)
        except (WriteError, StorageError, ValueError) as exc:
            return PlainTextResponse(str(exc), status_code=400)
        release_soon()  # the request's freed pages back to the OS after the burst (engine/memory.py)
        state.metrics.appended.labels("float").inc(result.samples)
        if result.histograms:
            state.metrics.appended.labels("histogram").inc(result.histograms)
        return _response(mt)
