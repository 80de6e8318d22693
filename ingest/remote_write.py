"""Remote write 1.0 and 2.0 into the lake: decode (vectorized, in ``prompb``), then append.

Like Prometheus's receiver, a request is all or nothing: if any sample is refused
(a conflicting duplicate, out of bounds), nothing of it is stored and the sender gets a 400.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass

import numpy as np

from promlake.engine import Lake, SeriesBatch
from promlake.engine import blocks as blk
from promlake.engine.errors import InvalidSeriesError
from promlake.ingest import prompb
from promlake.ingest.histogram_layout import HistogramLayoutError, from_wire

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


# Series identity memo per lake (see prompb.series_cache): the labels of a series a sender
# wrote before are not decoded or hashed again, only compared byte for byte.
_caches: weakref.WeakKeyDictionary[Lake, prompb.SeriesCache] = weakref.WeakKeyDictionary()
_caches_lock = threading.Lock()


def series_cache(lake: Lake) -> prompb.SeriesCache:
    with _caches_lock:
        cache = _caches.get(lake)
        if cache is None:
            cache = _caches[lake] = prompb.SeriesCache()
        return cache


def series_batch(batch: prompb.WriteBatch, cache: prompb.SeriesCache | None = None) -> SeriesBatch:
    """The request's series. Decoded with ``cache``, ids of the series found in it come from
    it (their labels are decoded only if the lake asks for them), and the ids of the others,
    computed from their labels, are remembered in it."""
    fields, known = batch.label_fields, batch.known
    if cache is None or fields is None or known is None:
        return SeriesBatch.from_arrow(
            batch.label_series, batch.label_names, batch.label_values, batch.n_series
        )
    miss = np.flatnonzero(~known.hit)

    def load(which: np.ndarray) -> SeriesBatch:
        return SeriesBatch.from_arrow(*fields.decode(which), len(which))

    if not len(miss):
        return SeriesBatch.identified(known.ids, known.checks, load)
    # Label rows were decoded for the series not found (in series order): renumber them.
    renum = np.cumsum(~known.hit) - 1
    fresh = SeriesBatch.from_arrow(
        renum[batch.label_series], batch.label_names, batch.label_values, len(miss)
    )
    ids, checks = known.ids.copy(), known.checks.copy()
    try:
        ids[miss], checks[miss] = fresh.series_ids(), fresh.check_hashes()
    except ValueError:
        # A refused label set (duplicate names): the whole batch, as without the cache, so
        # the error says the same (and comes where it would, at commit).
        n = batch.n_series
        return SeriesBatch.from_arrow(*fields.decode(np.arange(n, dtype=np.int64)), n)
    fields.remember(cache, miss, ids[miss], checks[miss])
    if len(miss) == batch.n_series:
        return fresh
    return SeriesBatch.identified(ids, checks, load)


def store(lake: Lake, body: bytes, content_type: str) -> WriteResult:
    proto = message_type(content_type)
    cache = series_cache(lake)
    try:
        if proto == PROTO_V2:
            batch = prompb.decode_write_request_v2(body)
        else:
            batch = prompb.decode_write_request_v1(body, series_cache=cache)
    except prompb.DecodeError as exc:
        raise WriteError(f"decoding remote write request: {exc}") from exc
    _check_timestamps(batch.sample_ts, "sample")
    _check_timestamps(batch.exemplar_ts, "exemplar")
    _check_timestamps(batch.histograms.column("timestamp").to_numpy(), "histogram")
    series = series_batch(batch, cache)
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
    if batch.histogram_count:
        try:
            h_series, h_rows = from_wire(batch.histograms)
            app.append_histograms(series, h_series, h_rows)
        except (HistogramLayoutError, InvalidSeriesError) as exc:
            raise WriteError(f"invalid native histogram: {exc}") from exc
    # Metadata comes per metric family (a handful per request), so a loop here is fine.
    for row in batch.metadata.select(["metric_family_name", "type", "help", "unit"]).to_pylist():
        app.set_metadata(row["metric_family_name"], row["type"], row["help"], row["unit"])
    result = app.commit()
    # A request is all or nothing: once committed, every histogram of it is stored (identical
    # resends included, as for float samples).
    return WriteResult(
        version=2 if proto == PROTO_V2 else 1,
        samples=result.samples + result.duplicates,
        exemplars=result.exemplars,
        histograms=batch.histogram_count,
    )
