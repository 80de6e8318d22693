"""OTLP requests for the ingest tests: built from plain dicts with protobuf's own classes, and
written as OTLP/JSON (shared by test_otlp.py and test_otlp_exp_histograms.py)."""

from __future__ import annotations

import base64
import json
import math
from typing import Any

import pytest
from google.protobuf import json_format

pb = pytest.importorskip("opentelemetry.proto.collector.metrics.v1.metrics_service_pb2")
Request = pb.ExportMetricsServiceRequest


def build(d: dict[str, Any]) -> Any:
    req = Request()
    json_format.ParseDict(_for_parse(d), req)
    return req


def _for_parse(x: Any) -> Any:
    """ParseDict wants bytes as base64 and non-finite doubles as strings."""
    if isinstance(x, dict):
        return {k: _for_parse(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_for_parse(v) for v in x]
    if isinstance(x, bytes):
        return base64.b64encode(x).decode()
    if isinstance(x, float) and not math.isfinite(x):
        return "NaN" if math.isnan(x) else ("Infinity" if x > 0 else "-Infinity")
    return x


def otlp_json(req: Any, enums_as_ints: bool = True, snake: bool = False) -> bytes:
    """OTLP/JSON: protojson's camelCase (or proto names) and int64-as-string, but hex ids."""
    d = json_format.MessageToDict(
        req, use_integers_for_enums=enums_as_ints, preserving_proto_field_name=snake
    )

    def fix(x: Any) -> Any:
        if isinstance(x, dict):
            return {
                k: (
                    base64.b64decode(v).hex() if k in ("traceId", "spanId", "trace_id", "span_id") else fix(v)
                )
                for k, v in x.items()
            }
        if isinstance(x, list):
            return [fix(v) for v in x]
        return x

    return json.dumps(fix(d)).encode()
