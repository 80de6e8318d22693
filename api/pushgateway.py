"""The Pushgateway push API: ``PUT|POST|DELETE /metrics/job/<job>{/<label>/<value>}``.

As Prometheus's Pushgateway 1.x answers (``handler/push.go``, ``handler/delete.go``): 200
with an empty body for a stored PUT/POST, 202 for DELETE (also of an unknown group), 400 with
a plain-text message (Go's ``http.Error``: newline-terminated) for anything refused. Path
segments ``<name>@base64/<value>`` carry URL-safe base64 values (``=`` padding optional, an
empty value may be written as ``=``); ``job@base64`` likewise. The groups live in
``promlake.ingest.pushgateway.PushStore``; the server ingests them every scrape interval.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import gzip
import re
import time
from typing import TYPE_CHECKING

import cramjam
from fastapi import FastAPI, Request, Response
from fastapi.responses import PlainTextResponse
from starlette.concurrency import run_in_threadpool

from promlake.ingest.exposition import ExpositionError
from promlake.ingest.pushgateway import PushError, PushStore

if TYPE_CHECKING:
    from promlake.api.app import ServerState

_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")
_B64_ALPHABET = re.compile(r"[A-Za-z0-9_-]*\Z")
PROTOBUF = "application/vnd.google.protobuf"


class BadPath(ValueError):
    pass


def pushgateway_store(state: ServerState) -> PushStore:
    """The state's store (``state.pushgateway``), created under the lake when it has none."""
    store = getattr(state, "pushgateway", None)
    if store is None:
        store = PushStore(state.lake.root)
        with contextlib.suppress(AttributeError):  # a state that takes no new attributes
            state.pushgateway = store
    return store


def install_pushgateway_routes(app: FastAPI, state: ServerState) -> None:
    store = pushgateway_store(state)

    async def handle(request: Request, job: str, rest: str, job_base64: bool) -> Response:
        try:
            key = grouping_key(job, rest, job_base64)
        except BadPath as exc:
            return _error(str(exc))
        if request.method == "DELETE":
            await run_in_threadpool(store.delete, key)
            return Response(status_code=202)
        try:
            body = _decode_body(await request.body(), request)
        except BadPath as exc:
            return _error(str(exc))
        try:
            # Parsing, the consistency check and the fsync'd save stay off the event loop.
            await run_in_threadpool(store.push, key, body, replace=request.method == "PUT", now=time.time())
        except (ExpositionError, PushError) as exc:
            return _error(str(exc))
        return Response(status_code=200)

    methods = ["PUT", "POST", "DELETE"]

    @app.api_route("/metrics/job/{job}", methods=methods)
    async def push_job(request: Request, job: str) -> Response:
        return await handle(request, job, "", False)

    @app.api_route("/metrics/job/{job}/{rest:path}", methods=methods)
    async def push_labels(request: Request, job: str, rest: str) -> Response:
        return await handle(request, job, "/" + rest, False)

    @app.api_route("/metrics/job@base64/{job}", methods=methods)
    async def push_job64(request: Request, job: str) -> Response:
        return await handle(request, job, "", True)

    @app.api_route("/metrics/job@base64/{job}/{rest:path}", methods=methods)
    async def push_labels64(request: Request, job: str, rest: str) -> Response:
        return await handle(request, job, "/" + rest, True)


def _error(message: str) -> Response:
    return PlainTextResponse(message + "\n", status_code=400)


def decode_base64(value: str) -> str:
    """Pushgateway's ``decodeBase64``: URL-safe alphabet, ``=`` padding optional."""
    raw = value.rstrip("=")
    if not _B64_ALPHABET.match(raw):
        pos = next(i for i, ch in enumerate(raw) if not re.match(r"[A-Za-z0-9_-]", ch))
        raise ValueError(f"illegal base64 data at input byte {pos}")
    if len(raw) % 4 == 1:
        raise ValueError(f"illegal base64 data at input byte {len(raw) - 1}")
    try:
        return base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise ValueError(str(exc)) from None


def grouping_key(job: str, rest: str, job_base64: bool = False) -> dict[str, str]:
    """``job`` and the ``/<name>/<value>`` pairs of ``rest`` as the group's labels."""
    if job_base64:
        try:
            job = decode_base64(job)
        except ValueError as exc:
            raise BadPath(f"invalid base64 encoding for job {job!r}: {exc}") from None
    if not job:
        raise BadPath("job name is required")
    key = {"job": job}
    if len(rest) <= 1:
        return key
    parts = rest[1:].split("/")
    if len(parts) % 2:
        raise BadPath(f'odd number of components in label string "{rest}"')
    for name, value in zip(parts[::2], parts[1::2], strict=True):
        if name.endswith("@base64"):
            name = name[: -len("@base64")]
            try:
                value = decode_base64(value)
            except ValueError as exc:
                raise BadPath(f'invalid base64 encoding for label {name}="{value}": {exc}') from None
        if not _LABEL_NAME.match(name) or name.startswith("__"):
            raise BadPath(f'improper label name "{name}"')
        key[name] = value
    return key


def _decode_body(body: bytes, request: Request) -> bytes:
    ctype = request.headers.get("content-type", "")
    if ctype.split(";")[0].strip().lower() == PROTOBUF:
        raise BadPath("protobuf pushes are not supported by promlake; push the text format")
    encoding = request.headers.get("content-encoding", "").strip().lower()
    try:
        if encoding == "gzip":
            return gzip.decompress(body)
        if encoding == "snappy":
            return bytes(cramjam.snappy.decompress(body))
    except Exception as exc:  # corrupt compressed body
        raise BadPath(f"{encoding} decoding error: {exc}") from None
    return body
