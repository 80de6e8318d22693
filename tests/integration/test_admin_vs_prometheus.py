"""The same delete_series calls to Debian's Prometheus 2.42 and to promlake: same answers after.

Both get the same remote-written data and the same deletes (part of a series, a whole series,
``{}`` which deletes nothing); query answers must then agree, and so must ``/api/v1/series``
for every series with samples left. Where they knowingly differ (README of api/): Prometheus
keeps listing a wholly deleted head series, promlake does not.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlencode

import pytest

from .api_data import STEP_MS, N, payload, remote_write, start_ms
from .conftest import free_port, http, start_promlake, wait_ready

pytestmark = [
    pytest.mark.peers,
    pytest.mark.skipif(
        shutil.which("prometheus") is None, reason="prometheus (Debian package) not installed"
    ),
]

QUERIES = ["api_test_ratio", "api_test_up", "api_test_requests_total", "count(api_test_up)"]


def test_delete_series_leaves_the_same_answers(tmp_path: Path) -> None:
    (tmp_path / "prometheus.yml").write_text("global:\n  scrape_interval: 15s\n")
    port = free_port()
    log = (tmp_path / "prometheus.log").open("wb")
    prom = subprocess.Popen(
        ["prometheus", f"--config.file={tmp_path / 'prometheus.yml'}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}", "--web.enable-remote-write-receiver", "--web.enable-admin-api"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    lake = None
    try:
        wait_ready(f"http://127.0.0.1:{port}/-/ready", prom)
        lake = start_promlake(tmp_path / "lake", "--no-self-metrics", "--web.enable-admin-api")
        urls = [f"http://127.0.0.1:{port}", lake.url]
        t0 = start_ms()
        for u in urls:
            remote_write(u, payload(t0))

        def at(k: int) -> str:
            return str((t0 + k * STEP_MS) / 1000)

        deletes = [
            [("match[]", "{}")],
            [("match[]", "api_test_ratio"), ("start", at(5)), ("end", at(9))],
            [("match[]", 'api_test_up{job="db"}')],
            [("match[]", 'api_test_requests_total{code="500"}'), ("end", at(10))],
        ]
        for params in deletes:
            answers = [
                http("POST", u + "/api/v1/admin/tsdb/delete_series?" + urlencode(params)) for u in urls
            ]
            assert [a[0] for a in answers] == [204, 204], answers

        def get(u: str, path: str, params: list[tuple[str, str]]) -> object:
            status, body, _ = http("GET", u + path + "?" + urlencode(params))
            assert status == 200, body
            return json.loads(body)

        for q in QUERIES:
            params = [("query", q), ("start", at(0)), ("end", at(N - 1)), ("step", "15")]
            prom_ans, mine = (get(u, "/api/v1/query_range", params) for u in urls)
            assert mine == prom_ans, q
            raw = [("query", q + "[10m]"), ("time", at(N - 1))] if not q.startswith("count") else None
            if raw:
                prom_ans, mine = (get(u, "/api/v1/query", raw) for u in urls)
                assert mine == prom_ans, q

        match = [("match[]", '{__name__=~"api_test.*"}')]
        prom_series, my_series = (get(u, "/api/v1/series", match)["data"] for u in urls)  # type: ignore[index]
        deleted = {"__name__": "api_test_up", "instance": "i3", "job": "db"}
        assert deleted in prom_series and deleted not in my_series  # the documented difference
        assert my_series == [s for s in prom_series if s != deleted]
        # clean_tombstones changes no answer.
        for u in urls:
            assert http("POST", u + "/api/v1/admin/tsdb/clean_tombstones")[0] == 204
        for q in QUERIES:
            params = [("query", q), ("start", at(0)), ("end", at(N - 1)), ("step", "15")]
            prom_ans, mine = (get(u, "/api/v1/query_range", params) for u in urls)
            assert mine == prom_ans, q
    finally:
        if lake is not None:
            lake.stop()
        prom.terminate()
        prom.wait(30)
        log.close()
