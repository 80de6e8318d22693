"""Vectorized decoders and encoders for Prometheus remote write (1.0 and 2.0) protobuf bodies.

See README.md in this folder for the design and the entry points.
"""

from __future__ import annotations

from .batch import HISTOGRAM_SCHEMA, METADATA_SCHEMA, METRIC_TYPES, WriteBatch
from .encode import encode_write_request_v1, encode_write_request_v2
from .errors import DecodeError
from .series_cache import SeriesCache, SeriesLookup
from .v1 import decode_write_request_v1
from .v2 import decode_write_request_v2

__all__ = [
    "HISTOGRAM_SCHEMA",
    "METADATA_SCHEMA",
    "METRIC_TYPES",
    "DecodeError",
    "SeriesCache",
    "SeriesLookup",
    "WriteBatch",
    "decode_write_request_v1",
    "decode_write_request_v2",
    "encode_write_request_v1",
    "encode_write_request_v2",
]
