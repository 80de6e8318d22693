"""Remote write 1.0 and 2.0 into the lake: decode (vectorized, in ``prompb``), then append.

Like Prometheus's receiver, a request is all or nothing: if any sample is refused
(a conflicting duplicate, out of bounds), nothing of it is stored and the sender gets a 400.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from promlake.engine import Lake, SeriesBatch
from promlake.engine import blocks as blk
from promlake.ingest import prompb

PROTO_V1 = "prometheus.WriteRequest"
PROTO_V2 = "io.prometheus.write.v2.Request"


class WriteError(ValueError):
    """The request cannot be stored; the sender should not retry it."""


class UnsupportedFormat(WriteError):
    """A Content-Type this receiver does not speak (HTTP 415)."""


@dataclass(frozen=True)
class WriteResult:
    version: int
    samples: int
    exemplars: int
    histograms: int

    def headers(self) -> dict[str, str]:
        if self.version != 2:
            return {}
        return {
            "X-Prometheus-Remote-Write-Samples-Written": str(self.samples),
            "X-Prometheus-Remote-Write-Histograms-Written": str(self.histograms),
            "X-Prometheus-Remote-Write-Exemplars-Written": str(self.exemplars),
        }


def message_type(content_type: str) -> str:
    """The protobuf message a Content-Type names (1.0 when it names none)."""
    parts = [p.strip() for p in content_type.split(";")]
    if parts[0].lower() != "application/x-protobuf":
        raise UnsupportedFormat(f"unsupported Content-Type {content_type!r}; expected application/x-protobuf")
    for p in parts[1:]:
        key, _, value = p.partition("=")
        if key.strip().lower() == "proto":
            value = value.strip()
            if value not in (PROTO_V1, PROTO_V2):
                raise UnsupportedFormat(f"unknown remote write format proto={value}")
            return value
    return PROTO_V1


# The lake files data under a calendar day (``day=YYYY-MM-DD``), which exists for years 1 to
# 9999 only. A sample outside that range used to be accepted (204) and then made every flush
# of the head fail ("year 10000 is out of range"), for good since the WAL replays it; it is
# refused here instead, as out of bounds (400, so the sender drops it rather than retrying).
MIN_STORABLE_MS = blk.MIN_TS_MS
MAX_STORABLE_MS = blk.MAX_TS_MS


def _check_timestamps(ts: np.ndarray, what: str) -> None:
    if ts.size and (int(ts.min()) < MIN_STORABLE_MS or int(ts.max()) > MAX_STORABLE_MS):
        bad = int(ts.min()) if int(ts.min()) < MIN_STORABLE_MS else int(ts.max())
        raise WriteError(
            f"out of bounds: {what} timestamp {bad} is outside the storable range "
            f"[{MIN_STORABLE_MS}, {MAX_STORABLE_MS}] (years 1 to 9999)"
        )


def store(lake: Lake, body: bytes, content_type: str) -> WriteResult:
    proto = message_type(content_type)
    try:
        if proto == PROTO_V2:
            batch = prompb.decode_write_request_v2(body)
        else:
            batch = prompb.decode_write_request_v1(body)
    except prompb.DecodeError as exc:
        raise WriteError(f"decoding remote write request: {exc}") from exc
    _check_timestamps(batch.sample_ts, "sample")
    _check_timestamps(batch.exemplar_ts, "exemplar")
    series = SeriesBatch.from_arrow(batch.label_series, batch.label_names, batch.label_values, batch.n_series)
    app = lake.appender()
    # Start (created) timestamps come with 2.0 only; 0 means unknown there and here alike.
    app.append(series, batch.sample_series, batch.sample_ts, batch.sample_values, st=batch.sample_start_ts)
    if len(batch.exemplar_series):
        ex_labels = SeriesBatch.from_arrow(
            batch.exemplar_label_exemplar, batch.exemplar_label_names, batch.exemplar_label_values,
            len(batch.exemplar_series),
        )  # fmt: skip
        app.append_exemplars(
            series, batch.exemplar_series, batch.exemplar_ts, batch.exemplar_values, ex_labels
        )
    # Metadata comes per metric family (a handful per request), so a loop here is fine.
    for row in batch.metadata.select(["metric_family_name", "type", "help", "unit"]).to_pylist():
        app.set_metadata(row["metric_family_name"], row["type"], row["help"], row["unit"])
    result = app.commit()
    # Native histogram samples are decoded but not stored yet (the histogram storage issue);
    # they are reported as not written rather than silently claimed.
    return WriteResult(
        version=2 if proto == PROTO_V2 else 1,
        samples=result.samples + result.duplicates,
        exemplars=result.exemplars,
        histograms=0,
    )
