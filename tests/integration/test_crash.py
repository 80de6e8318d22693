"""kill -9 of a real `promlake serve` at random moments loses nothing acknowledged.

A writer sends remote-write requests (the real wire format) and records what the server
acknowledged with 204; the server is killed with SIGKILL mid-stream, including while it
flushes its head to Parquet (small flush thresholds make flushes frequent); after a restart
every acknowledged sample must be there, exactly once.
"""

from __future__ import annotations

import random
import signal
import threading
import time

import cramjam
import numpy as np
import pytest

import promlake
from promlake.ingest.prompb import WriteBatch, encode_write_request_v1

from .conftest import http, start_promlake

N_SERIES = 400


def _request(i: int) -> tuple[bytes, np.ndarray]:
    """Request i: one sample for each series at ts = i seconds, value i."""
    names = np.tile(np.array(["__name__", "job", "idx"], dtype=object), N_SERIES)
    values = np.array([v for s in range(N_SERIES) for v in ("crash_metric", "crash", str(s))], dtype=object)
    batch = WriteBatch.build(
        n_series=N_SERIES,
        label_series=np.repeat(np.arange(N_SERIES), 3),
        label_names=names.tolist(),
        label_values=values.tolist(),
        sample_series=np.arange(N_SERIES),
        sample_ts=np.full(N_SERIES, 1_700_000_000_000 + i * 1000),
        sample_values=np.full(N_SERIES, float(i)),
    )
    return bytes(cramjam.snappy.compress_raw(encode_write_request_v1(batch))), np.full(N_SERIES, i)


def _writer(url: str, start: int, acked: list[int], stop: threading.Event) -> None:
    i = start
    headers = {"Content-Type": "application/x-protobuf", "Content-Encoding": "snappy",
               "X-Prometheus-Remote-Write-Version": "0.1.0"}  # fmt: skip
    while not stop.is_set():
        body, _ = _request(i)
        try:
            status = http("POST", url + "/api/v1/write", body, headers, timeout=10)[0]
        except OSError:
            return  # the server is gone; this request was not acknowledged
        if status == 204:
            acked.append(i)
        i += 1


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_kill_9_loses_nothing_acknowledged(tmp_path, seed):
    rng = random.Random(seed)
    lake_dir = tmp_path / "lake"
    acked: list[int] = []
    next_request = 0
    for _round in range(3):
        # A tiny head flush threshold: flushes happen every few requests, so kills land
        # during flushes too.
        server = start_promlake(lake_dir, "--no-self-metrics", "--storage.head.flush-min-bytes=64KB")
        stop = threading.Event()
        round_acked: list[int] = []
        t = threading.Thread(target=_writer, args=(server.url, next_request, round_acked, stop))
        t.start()
        time.sleep(rng.uniform(0.5, 2.5))
        server.stop(signal.SIGKILL)
        stop.set()
        t.join(30)
        acked.extend(round_acked)
        next_request += 10_000  # fresh timestamps for the next round
    assert acked, "the writer must have been acknowledged at least once for the test to mean anything"
    assert list((lake_dir / "samples").rglob("*.parquet")), "flushes happened while writing"
    lake = promlake.open(lake_dir, readonly=True)
    df = lake.sql("SELECT ts, count(*) AS n, min(value) AS v FROM samples GROUP BY ts")
    lake.close()
    stored = {int((ts - 1_700_000_000_000) // 1000): (n, v) for ts, n, v in df.iter_rows()}
    missing = [i for i in acked if i not in stored]
    assert not missing, f"{len(missing)} acknowledged requests lost, e.g. {missing[:5]}"
    for i in acked:
        n, v = stored[i]
        assert n == N_SERIES and v == float(i), f"request {i}: {n} samples stored"


def test_restart_after_kill_serves_and_flushes(tmp_path):
    lake_dir = tmp_path / "lake"
    server = start_promlake(lake_dir, "--no-self-metrics")
    body, _ = _request(0)
    headers = {"Content-Type": "application/x-protobuf", "Content-Encoding": "snappy"}
    assert http("POST", server.url + "/api/v1/write", body, headers)[0] == 204
    server.stop(signal.SIGKILL)
    assert list((lake_dir / "wal").glob("0*")), "the acknowledged request is in the WAL"
    server = start_promlake(lake_dir, "--no-self-metrics")  # replays the WAL into Parquet
    server.stop(signal.SIGTERM)
    lake = promlake.open(lake_dir, readonly=True)
    assert lake.sql("SELECT count(*) AS n FROM samples")["n"][0] == N_SERIES
    lake.close()
