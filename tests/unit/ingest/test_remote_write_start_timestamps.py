"""Remote write 2.0 start timestamps reach the lake as ``st``; 0 (unset) and 1.0 store null."""

from __future__ import annotations

import numpy as np

import promlake
from promlake.ingest import prompb
from promlake.ingest.prompb import reference
from promlake.ingest.remote_write import PROTO_V1, PROTO_V2, store

V2 = f"application/x-protobuf;proto={PROTO_V2}"
V1 = f"application/x-protobuf;proto={PROTO_V1}"


def _st_by_ts(lake: promlake.Lake, metric: str) -> dict[int, int | None]:
    df = lake.sql(f"SELECT ts, st FROM metrics WHERE metric = '{metric}' ORDER BY ts")
    return dict(zip(df["ts"].to_list(), df["st"].to_list(), strict=True))


def test_v2_sample_start_timestamps_are_stored_and_zero_means_unknown(tmp_path):
    batch = prompb.WriteBatch.build(
        n_series=1,
        label_series=[0],
        label_names=["__name__"],
        label_values=["requests_total"],
        sample_series=[0, 0, 0],
        sample_ts=[60_000, 120_000, 180_000],
        sample_values=[1.0, 2.0, 3.0],
        sample_start_ts=[30_000, 0, 150_000],
    )
    with promlake.open(tmp_path) as lake:
        result = store(lake, prompb.encode_write_request_v2(batch), V2)
        assert result.samples == 3
        assert _st_by_ts(lake, "requests_total") == {60_000: 30_000, 120_000: None, 180_000: 150_000}


def test_v2_per_series_created_timestamp_of_older_senders_fills_in(tmp_path):
    c = reference.v2_classes()
    req = c["Request"]()
    req.symbols.extend(["", "__name__", "old_sender_total"])
    ts = req.timeseries.add()
    ts.labels_refs.extend([1, 2])
    ts.samples.add(value=1.0, timestamp=60_000)
    ts.samples.add(value=2.0, timestamp=120_000, start_timestamp=100_000)  # the sample's own wins
    ts.created_timestamp = 10_000
    with promlake.open(tmp_path) as lake:
        store(lake, req.SerializeToString(), V2)
        assert _st_by_ts(lake, "old_sender_total") == {60_000: 10_000, 120_000: 100_000}


def test_v1_has_no_start_timestamps(tmp_path):
    batch = prompb.WriteBatch.build(
        n_series=1,
        label_series=[0],
        label_names=["__name__"],
        label_values=["up"],
        sample_series=[0],
        sample_ts=[60_000],
        sample_values=np.array([1.0]),
    )
    with promlake.open(tmp_path) as lake:
        store(lake, prompb.encode_write_request_v1(batch), V1)
        assert _st_by_ts(lake, "up") == {60_000: None}
        assert "st" not in lake.head.table().column_names
