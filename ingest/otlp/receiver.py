"""OTLP metrics into the lake: decode (protobuf or JSON, vectorized), translate, append.

Like the remote-write receiver, a request is all or nothing: a malformed body, a metric
Prometheus refuses (delta temporality, no data, unusable names, exponential histograms of a
scale below -4) or a refused sample or native histogram stores nothing and is answered with 400.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from promlake.engine import Lake, SeriesBatch
from promlake.engine.errors import InvalidSeriesError
from promlake.ingest.prompb.errors import DecodeError
from promlake.ingest.remote_write import UnsupportedFormat, WriteError, _check_timestamps

from .batch import OtlpBatch
from .json import decode_export_request_json
from .proto import decode_export_request
from .translate import Translation, TranslationError, translate

log = logging.getLogger(__name__)

PROTOBUF = "application/x-protobuf"
JSON = "application/json"


@dataclass(frozen=True)
class OtlpResult:
    samples: int
    exemplars: int
    series: int
    histograms: int = 0  # native histogram samples (exponential histogram points)
    warnings: list[str] = field(default_factory=list)


def media_type(content_type: str) -> str:
    """``application/x-protobuf`` or ``application/json``; anything else is UnsupportedFormat."""
    mt = content_type.split(";", 1)[0].strip().lower()
    if mt not in (PROTOBUF, JSON):
        raise UnsupportedFormat(f"unsupported content type: {content_type}, supported: [{JSON}, {PROTOBUF}]")
    return mt


def decode(body: bytes, content_type: str) -> OtlpBatch:
    mt = media_type(content_type)
    try:
        return decode_export_request(body) if mt == PROTOBUF else decode_export_request_json(body)
    except DecodeError as exc:
        raise WriteError(f"decoding OTLP metrics request: {exc}") from exc


def to_series(batch: OtlpBatch) -> Translation:
    try:
        return translate(batch)
    except TranslationError as exc:
        raise WriteError(f"translating OTLP metrics: {exc}") from exc


def store(lake: Lake, body: bytes, content_type: str) -> OtlpResult:
    tr = to_series(decode(body, content_type))
    _check_timestamps(tr.ts, "sample")
    _check_timestamps(tr.exemplar_ts, "exemplar")
    _check_timestamps(tr.histograms.column("ts").to_numpy(), "histogram")
    s = tr.series
    series = SeriesBatch.from_arrow(s.owner, s.names, s.values, s.n)
    app = lake.appender()
    app.append(series, tr.sample_series, tr.ts, tr.values, st=tr.st)
    if tr.exemplar_series.size:
        e = tr.exemplar_labels
        ex_labels = SeriesBatch.from_arrow(e.owner, e.names, e.values, tr.exemplar_series.size)
        app.append_exemplars(series, tr.exemplar_series, tr.exemplar_ts, tr.exemplar_values, ex_labels)
    if tr.histogram_series.size:
        try:
            app.append_histograms(series, tr.histogram_series, tr.histograms)
        except InvalidSeriesError as exc:
            raise WriteError(f"invalid native histogram: {exc}") from exc
    for family, typ, help_, unit in tr.metadata:
        app.set_metadata(family, typ, help_, unit)
    result = app.commit()
    if tr.warnings:
        log.warning("Warnings translating OTLP metrics to Prometheus write request: %s", tr.warnings)
    return OtlpResult(
        samples=result.samples + result.duplicates,
        exemplars=result.exemplars,
        series=s.n,
        histograms=int(tr.histogram_series.size),
        warnings=tr.warnings,
    )
