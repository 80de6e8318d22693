"""A scalar protobuf reader for the rare attribute values that are arrays or key-value lists
(``AnyValue.array_value`` / ``kvlist_value``): one Python step per nested field, which is fine
for values that practically never occur on metrics."""

from __future__ import annotations

from typing import Any

import numpy as np

from promlake.ingest.prompb.errors import DecodeError


def _fields(data: bytes, at: int) -> list[tuple[int, int, Any]]:
    """Scalar protobuf field reader for the rare nested attribute values."""
    out: list[tuple[int, int, Any]] = []
    p = 0

    def varint() -> int:
        nonlocal p
        v = shift = 0
        while True:
            if p >= len(data) or shift > 63:
                raise DecodeError("malformed nested attribute value", at + p)
            c = data[p]
            p += 1
            v |= (c & 0x7F) << shift
            shift += 7
            if c < 0x80:
                return v & (1 << 64) - 1

    while p < len(data):
        tag = varint()
        num, wire = tag >> 3, tag & 7
        if num == 0:
            raise DecodeError("malformed nested attribute value: field number 0", at + p)
        if wire == 0:
            out.append((num, wire, varint()))
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            if p + size > len(data):
                raise DecodeError("malformed nested attribute value: truncated", at + p)
            out.append((num, wire, data[p : p + size]))
            p += size
        elif wire == 2:
            ln = varint()
            if p + ln > len(data):
                raise DecodeError("malformed nested attribute value: truncated", at + p)
            out.append((num, wire, (data[p : p + ln], at + p)))
            p += ln
        else:
            raise DecodeError(f"malformed nested attribute value: wire type {wire}", at + p)
    return out


def _any(data: bytes, at: int) -> Any:
    value: Any = None
    for num, wire, x in _fields(data, at):
        if num == 1 and wire == 2:
            try:
                value = x[0].decode()
            except UnicodeDecodeError:
                raise DecodeError("attribute value is not valid UTF-8", x[1]) from None
        elif num == 2 and wire == 0:
            value = x != 0
        elif num == 3 and wire == 0:
            value = x - (1 << 64) if x >= 1 << 63 else x
        elif num == 4 and wire == 1:
            value = float(np.frombuffer(x, "<f8")[0])
        elif num == 5 and wire == 2:
            value = py_array(*x)
        elif num == 6 and wire == 2:
            value = py_kvlist(*x)
        elif num == 7 and wire == 2:
            value = bytes(x[0])
    return value


def py_array(data: bytes, at: int) -> list[Any]:
    return [_any(*x) for num, wire, x in _fields(data, at) if num == 1 and wire == 2]


def py_kvlist(data: bytes, at: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for num, wire, x in _fields(data, at):
        if num == 1 and wire == 2:
            key, value = "", None
            for n2, w2, y in _fields(*x):
                if n2 == 1 and w2 == 2:
                    key = y[0].decode(errors="replace")
                elif n2 == 2 and w2 == 2:
                    value = _any(*y)
            out[key] = value
    return out
