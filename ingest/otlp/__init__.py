"""The OTLP metrics receiver: vectorized decoders (protobuf, JSON) and Prometheus 3's default
translation of OTLP metrics to series. See ingest/README.md."""

from __future__ import annotations

from .batch import OtlpBatch
from .json import decode_export_request_json
from .proto import decode_export_request
from .receiver import OtlpResult, store
from .translate import Translation, TranslationError, translate

__all__ = [
    "OtlpBatch",
    "OtlpResult",
    "Translation",
    "TranslationError",
    "decode_export_request",
    "decode_export_request_json",
    "store",
    "translate",
]
