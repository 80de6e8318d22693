"""One envelope for every /api/ answer (FastAPI's own errors included), CORS, gzip, readiness."""

from __future__ import annotations

import gzip

from apidata import FakeState
from fastapi.testclient import TestClient

from promlake.api.app import create_app


def test_unknown_api_path_is_a_404_envelope(client):
    r = client.get("/api/v1/nope")
    assert r.status_code == 404
    assert r.json() == {"status": "error", "errorType": "not_found", "error": "404 page not found"}


def test_unknown_path_outside_the_api_is_go_text(client):
    r = client.get("/nope")
    assert (r.status_code, r.text) == (404, "404 page not found\n")


def test_wrong_method_is_a_405_envelope(client):
    for method, path in [
        ("POST", "/api/v1/label/job/values"),
        ("DELETE", "/api/v1/query"),
        ("POST", "/api/v1/status/buildinfo"),
    ]:
        r = client.request(method, path)
        assert r.status_code == 405, path
        body = r.json()
        assert (
            body["status"] == "error" and body["errorType"] == "bad_data" and "not allowed" in body["error"]
        )
        assert "detail" not in body


def test_validation_errors_use_the_envelope(state):
    app = create_app(state)

    @app.get("/api/v1/typed")
    def typed(n: int) -> dict[str, int]:
        return {"n": n}

    r = TestClient(app).get("/api/v1/typed", params={"n": "x"})
    assert r.status_code == 400
    body = r.json()
    assert (
        body["status"] == "error"
        and body["errorType"] == "bad_data"
        and body["error"].startswith('invalid parameter "n"')
    )


def test_unexpected_exceptions_are_internal_errors(state):
    app = create_app(state)

    @app.get("/api/v1/broken")
    def broken() -> None:
        raise KeyError("oops")

    r = TestClient(app, raise_server_exceptions=False).get("/api/v1/broken")
    assert r.status_code == 500
    assert r.json() == {"status": "error", "errorType": "internal", "error": "KeyError: 'oops'"}


def test_cors_headers(client):
    plain = client.get("/api/v1/status/buildinfo")
    assert plain.headers["vary"] == "Origin" and "access-control-allow-origin" not in plain.headers
    r = client.get("/api/v1/status/buildinfo", headers={"Origin": "http://grafana:3000"})
    assert r.headers["access-control-allow-origin"] == "*"
    assert r.headers["access-control-allow-methods"] == "GET, POST, OPTIONS"
    assert r.headers["access-control-allow-headers"] == "Accept, Authorization, Content-Type, Origin"
    assert r.headers["access-control-expose-headers"] == "Date"
    options = client.options("/api/v1/query", headers={"Origin": "http://grafana:3000"})
    assert options.status_code == 204 and options.content == b""
    assert options.headers["access-control-allow-origin"] == "*"


def test_gzip_when_accepted(client):
    params = {"query": "odd", "time": "1700000100"}
    zipped = client.get("/api/v1/query", params=params, headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip"
    plain = client.get("/api/v1/query", params=params, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    with client.stream("GET", "/api/v1/query", params=params, headers={"Accept-Encoding": "gzip"}) as r:
        raw = b"".join(r.iter_raw())
    assert gzip.decompress(raw) == plain.content


def test_not_ready_answers_503_text_except_walreplay(state):
    starting = FakeState(state.lake, state.metrics, ready=False)
    c = TestClient(create_app(starting))
    r = c.get("/api/v1/query", params={"query": "1"})
    assert (r.status_code, r.text) == (503, "Service Unavailable")
    assert c.get("/api/v1/status/walreplay").status_code == 200
    assert c.get("/-/healthy").status_code == 200
