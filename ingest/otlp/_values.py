"""Attribute values (``AnyValue``) rendered as strings, as pcommon's ``Value.AsString`` does.

Prometheus turns every OTLP attribute into a label with ``AsString()``: strings as they are,
booleans ``true``/``false``, integers in decimal, doubles in ES6 number style, bytes in
base64, arrays and key-value lists as compact JSON. Strings, booleans and integers are
vectorized; the rare doubles are formatted once per distinct value, and bytes, arrays and
lists (which practically never occur on metrics) per value.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from .batch import EMPTY_STRINGS, I64

# AnyValue oneof members, by field number.
V_EMPTY, V_STRING, V_BOOL, V_INT, V_DOUBLE, V_ARRAY, V_KVLIST, V_BYTES = range(8)


def format_double(f: float) -> str:
    """pcommon's float64AsString: ES6 number formatting (Go's 'f' or 'e', shortest digits)."""
    if math.isnan(f) or math.isinf(f):
        go = "NaN" if math.isnan(f) else ("+Inf" if f > 0 else "-Inf")
        return f"json: unsupported value: {go}"
    a = abs(f)
    if a != 0 and (a < 1e-6 or a >= 1e21):
        return str(np.format_float_scientific(f, unique=True, trim="-", exp_digits=1))
    return str(np.format_float_positional(f, unique=True, trim="-"))


def format_go_float(f: float) -> str:
    """Go's ``strconv.FormatFloat(f, 'f', -1, 64)`` (``le`` and ``quantile`` label values)."""
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "+Inf" if f > 0 else "-Inf"
    return str(np.format_float_positional(f, unique=True, trim="-"))


def format_floats(values: np.ndarray, fmt: Any = format_double) -> pa.StringArray:
    """Format float64 values once per distinct bit pattern."""
    if not values.size:
        return EMPTY_STRINGS
    uniq, inv = np.unique(values.view(np.uint64), return_inverse=True)
    texts = pa.array([fmt(float(x)) for x in uniq.view(np.float64)], pa.string())
    return texts.take(pa.array(inv.reshape(-1).astype(np.int64)))


def json_value(v: Any) -> str:
    """Compact JSON as Go's encoding/json writes ``AsRaw()`` (keys sorted, bytes as base64)."""

    def conv(x: Any) -> Any:
        if isinstance(x, bytes | bytearray):
            return base64.b64encode(x).decode()
        if isinstance(x, dict):
            return {k: conv(y) for k, y in x.items()}
        if isinstance(x, list):
            return [conv(y) for y in x]
        return x

    return json.dumps(conv(v), separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def assemble(n: int, parts: Sequence[tuple[I64, pa.Array]]) -> pa.StringArray:
    """Scatter string arrays into ``n`` rows (``parts``: row indices and their strings); the
    rows no part covers are ""."""
    idx = np.full(n, -1, np.int64)
    arrays: list[pa.Array] = []
    off = 0
    for rows, arr in parts:
        if not rows.size:
            continue
        idx[rows] = off + np.arange(rows.size, dtype=np.int64)
        arrays.append(arr.cast(pa.string()))
        off += rows.size
    if not arrays:
        return pa.array(np.full(n, "", object), pa.string()) if n else EMPTY_STRINGS
    if len(arrays) == 1 and off == n:
        return arrays[0].take(pa.array(idx))
    arrays.append(pa.array([""], pa.string()))
    idx[idx < 0] = off
    return pa.concat_arrays(arrays).take(pa.array(idx))
