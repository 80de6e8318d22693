"""Remote-write payloads shared by the HTTP API integration tests."""

from __future__ import annotations

import time

import cramjam
import numpy as np
import pyarrow as pa

from promlake.ingest.prompb import METADATA_SCHEMA, WriteBatch, encode_write_request_v1

from .conftest import http

HEADERS = {
    "Content-Type": "application/x-protobuf",
    "Content-Encoding": "snappy",
    "X-Prometheus-Remote-Write-Version": "0.1.0",
}
STEP_MS = 15_000
N = 21

SERIES = [
    {"__name__": "api_test_requests_total", "job": "web", "instance": "i1", "code": "200"},
    {"__name__": "api_test_requests_total", "job": "web", "instance": "i2", "code": "500"},
    {"__name__": "api_test_up", "job": "web", "instance": "i1"},
    {"__name__": "api_test_up", "job": "db", "instance": "i3"},
    {"__name__": "api_test_ratio", "job": "web", "instance": "i1"},
]


def start_ms() -> int:
    """Ten minutes ago on a whole second: recent enough for Prometheus's head to accept."""
    return (int(time.time()) - 600) * 1000


def payload(t0: int) -> bytes:
    """Every series with N samples, 15 s apart from t0; metadata for two families."""
    names, values, owner = [], [], []
    for i, labels in enumerate(SERIES):
        for name, value in sorted(labels.items()):
            names.append(name)
            values.append(value)
            owner.append(i)
    k = np.arange(N)
    samples = [k * 3.0, k * 0.5 + 0.25, np.ones(N), np.where(k % 2 == 0, 1.0, 0.0), 1e-7 * (k + 1)]
    metadata = pa.table(
        {
            "series": pa.array([None, None], pa.int32()),
            "metric_family_name": ["api_test_requests_total", "api_test_up"],
            "type": ["counter", "gauge"],
            "help": ["Requests served.", "Whether it is up."],
            "unit": ["", ""],
        }
    ).cast(METADATA_SCHEMA)
    batch = WriteBatch.build(
        n_series=len(SERIES),
        label_series=owner,
        label_names=names,
        label_values=values,
        sample_series=np.repeat(np.arange(len(SERIES)), N),
        sample_ts=np.tile(t0 + k * STEP_MS, len(SERIES)),
        sample_values=np.concatenate(samples),
        metadata=metadata,
    )
    return bytes(cramjam.snappy.compress_raw(encode_write_request_v1(batch)))


def remote_write(url: str, body: bytes) -> None:
    status, text, _ = http("POST", url + "/api/v1/write", body, HEADERS)
    assert status in (200, 204), text
