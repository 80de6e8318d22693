"""ingest/prompb: malformed bodies raise DecodeError (with an offset), never anything else.

Fuzzing mutates valid bodies (truncation, byte flips, insertions) and checks against the
protobuf library: what it rejects we reject, what both accept decodes identically. The only
intended differences are stricter rules of ours: wrong wire types on known fields and group
wire types are errors here (protobuf keeps them as unknown fields), as are v2 symbol rules.
"""

from __future__ import annotations

import struct
from typing import Any

import pytest
from google.protobuf.message import DecodeError as PbDecodeError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from promlake.ingest.prompb import DecodeError, decode_write_request_v1, decode_write_request_v2
from promlake.ingest.prompb.reference import batch_to_python, message_to_python, v1_classes, v2_classes

DECODE = {1: decode_write_request_v1, 2: decode_write_request_v2}
ROOT = {1: v1_classes()["WriteRequest"], 2: v2_classes()["Request"]}


def _varint(v: int) -> bytes:
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


def _field(number: int, wire: int, payload: bytes) -> bytes:
    return _varint(number << 3 | wire) + (_varint(len(payload)) + payload if wire == 2 else payload)


def _label(name: bytes, value: bytes) -> bytes:
    return _field(1, 2, _field(1, 2, name) + _field(2, 2, value))


def _series(
    *labels: bytes, sample: bytes = _field(1, 1, struct.pack("<d", 1.0)) + _field(2, 0, _varint(5))
) -> bytes:
    return _field(1, 2, b"".join(labels) + _field(2, 2, sample))


GOOD = _series(_label(b"__name__", b"up"), _label(b"job", b"api"))


def _raises(body: bytes, version: int, *words: str) -> DecodeError:
    with pytest.raises(DecodeError) as exc:
        DECODE[version](body)
    for w in words:
        assert w in str(exc.value), str(exc.value)
    return exc.value


def test_good_body_decodes() -> None:
    assert decode_write_request_v1(GOOD).series_labels(0) == {"__name__": "up", "job": "api"}


def test_truncated_varint() -> None:
    err = _raises(GOOD + b"\x38\x80", 1, "truncated varint")
    assert err.offset == len(GOOD) + 1
    _raises(GOOD[:-1], 1, "past the end")  # the series' length now overruns the body


def test_length_past_end() -> None:
    body = b"\x0a\x7f" + GOOD[2:]
    err = _raises(body, 1, "past the end", "WriteRequest")
    assert err.offset == 0


def test_nested_length_past_its_parent() -> None:
    # A label whose length runs past the end of its time series (but not of the body).
    label = _field(1, 2, b"x") + b"\x12\x40" + b"y"
    body = _field(1, 2, _field(1, 2, label)) + _series(_label(b"__name__", b"up")) * 3
    _raises(body, 1, "prometheus.Label", "past the end")


def test_wrong_wire_type_for_known_field() -> None:
    # Sample.timestamp as a fixed64 instead of a varint.
    bad = _series(_label(b"__name__", b"up"), sample=_field(2, 1, struct.pack("<q", 5)))
    err = _raises(bad, 1, "prometheus.Sample.timestamp", "wire type I64", "expected VARINT")
    assert err.offset == len(bad) - 9  # the tag of the 9-byte field at the end
    # TimeSeries.labels as a varint.
    err = _raises(b"\x0a\x00" + _field(1, 2, _field(1, 0, b"\x01")), 1, "prometheus.TimeSeries.labels")
    assert err.offset == 4


@pytest.mark.parametrize("wire", [3, 4])
def test_group_wire_types_are_rejected(wire: int) -> None:
    body = GOOD + _varint(9 << 3 | wire) + (b"" if wire == 4 else _varint(10 << 3 | 4))
    _raises(body, 1, "group")


def test_invalid_wire_type_and_field_zero() -> None:
    _raises(GOOD + b"\x0e\x00", 1, "wire type 6")
    _raises(GOOD + b"\x02\x00", 1, "field number 0")


def test_overlong_varint() -> None:
    _raises(GOOD + b"\x38" + b"\xff" * 10 + b"\x01", 1, "longer than 10 bytes")
    # Bits beyond 64 in a tenth byte are dropped, as gogoproto (Prometheus) and upb do.
    sample = _field(2, 0, b"\xff" * 9 + b"\x7f")
    batch = decode_write_request_v1(_series(_label(b"__name__", b"up"), sample=sample))
    assert batch.sample_ts.tolist() == [-1]


def test_invalid_utf8_in_label() -> None:
    body = _series(_label(b"__name__", b"up"), _label(b"job", b"a\xff\xfeb"))
    err = _raises(body, 1, "label value", "UTF-8")
    assert err.offset == body.index(b"a\xff\xfeb")


def test_unknown_fields_of_every_wire_type_are_skipped() -> None:
    junk = (
        _field(7, 0, _varint(2**63))
        + _field(8, 1, b"\x00" * 8)
        + _field(9, 2, b"\xff\xfe")
        + _field(10, 5, b"\x00" * 4)
        + _field(2**29 - 1, 0, b"\x01")
        + _field(2, 2, b"cortex")
    )
    body = junk + GOOD + junk
    assert batch_to_python(decode_write_request_v1(body)) == batch_to_python(decode_write_request_v1(GOOD))


# --- v2 ----------------------------------------------------------------------------------------


def _v2(symbols: list[bytes], refs: list[int]) -> bytes:
    ts = _field(1, 2, b"".join(_varint(r) for r in refs)) + _field(2, 2, _field(2, 0, _varint(1)))
    return b"".join(_field(4, 2, s) for s in symbols) + _field(5, 2, ts)


def test_v2_symbol_ref_out_of_range() -> None:
    body = _v2([b"", b"__name__", b"up"], [1, 3])
    err = _raises(body, 2, "symbol 3", "outside the symbols table (size 3)")
    assert err.offset is not None


def test_v2_symbols_must_start_with_empty_string() -> None:
    _raises(_v2([b"__name__", b"up"], [0, 1]), 2, "must start with the empty string")
    _raises(_field(5, 2, b""), 2, "must start with the empty string")  # series but no symbols


def test_v2_odd_labels_refs() -> None:
    _raises(_v2([b"", b"a"], [1, 1, 1]), 2, "odd length")


def test_v2_metadata_ref_out_of_range() -> None:
    ts = _field(1, 2, bytes([1, 2])) + _field(2, 2, b"") + _field(5, 2, _field(3, 0, _varint(9)))
    body = b"".join(_field(4, 2, s) for s in (b"", b"__name__", b"m")) + _field(5, 2, ts)
    _raises(body, 2, "metadata help_ref")


# --- fuzzing ---------------------------------------------------------------------------------


def _seed_bodies() -> list[tuple[int, bytes]]:
    c1, c2 = v1_classes(), v2_classes()
    w = c1["WriteRequest"]()
    for i in range(40):
        ts = w.timeseries.add()
        ts.labels.add(name="__name__", value=f"metric_{i}")
        ts.labels.add(name="job", value="ünï")
        ts.samples.add(value=i * 1.5, timestamp=1_700_000_000_000 + i)
        if i % 9 == 0:
            e = ts.exemplars.add(value=2.0, timestamp=3)
            e.labels.add(name="trace_id", value="abc")
            h = ts.histograms.add(count_int=3, schema=1, timestamp=5)
            h.positive_spans.add(offset=-2, length=2)
            h.positive_deltas.extend([1, 1])
    w.metadata.add(type=1, metric_family_name="metric_1", help="Help.", unit="s")
    r = c2["Request"](symbols=["", "__name__", "metric", "job", "ünï", "Help."])
    for i in range(40):
        ts = r.timeseries.add(labels_refs=[1, 2, 3, 4])
        ts.samples.add(value=i, timestamp=i, start_timestamp=1)
        ts.metadata.type = 2
        ts.metadata.help_ref = 5
        if i % 9 == 0:
            ts.histograms.add(count_float=2.5, timestamp=i).negative_counts.extend([1.5, 1.0])
    return [(1, w.SerializeToString()), (2, r.SerializeToString()), (1, GOOD)]


SEEDS = _seed_bodies()

_OURS_ONLY = ("wire type", "group", "symbol", "labels_refs", "metadata", "field tag", "invalid field number")


def _differential(version: int, body: bytes) -> None:
    try:
        ours: Any = DECODE[version](body)
    except DecodeError as e:
        ours = e
    try:
        theirs: Any = ROOT[version].FromString(body)
    except PbDecodeError as e:
        theirs = e
    if isinstance(theirs, Exception):
        assert isinstance(ours, DecodeError), f"protobuf rejects ({theirs}) but we accept"
        return
    if isinstance(ours, DecodeError):
        # Stricter than protobuf only by design (see the module docstring).
        assert any(w in str(ours) for w in _OURS_ONLY), f"we reject ({ours}) but protobuf accepts"
        return
    try:
        want = message_to_python(theirs, version)
    except ValueError:
        pytest.fail("v2 rule violated but we accepted")
    assert batch_to_python(ours) == want


@settings(max_examples=400, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(SEEDS), st.data())
def test_fuzz_mutations(seed: tuple[int, bytes], data: Any) -> None:
    version, body = seed
    b = bytearray(body)
    for _ in range(data.draw(st.integers(1, 4))):
        kind = data.draw(st.sampled_from(["flip", "set", "truncate", "insert", "delete"]))
        if not b:
            break
        i = data.draw(st.integers(0, len(b) - 1))
        if kind == "flip":
            b[i] ^= 1 << data.draw(st.integers(0, 7))
        elif kind == "set":
            b[i] = data.draw(st.integers(0, 255))
        elif kind == "truncate":
            del b[i:]
        elif kind == "insert":
            b[i:i] = data.draw(st.binary(min_size=1, max_size=6))
        else:
            del b[i : i + data.draw(st.integers(1, 8))]
    _differential(version, bytes(b))


@settings(max_examples=200, deadline=2000)
@given(st.integers(1, 2), st.binary(max_size=200))
def test_fuzz_random_bytes(version: int, body: bytes) -> None:
    _differential(version, body)


@pytest.mark.parametrize(("version", "body"), SEEDS)
def test_every_truncation_is_an_error_or_a_prefix(version: int, body: bytes) -> None:
    for cut in range(0, len(body), max(1, len(body) // 300)):
        _differential(version, body[:cut])
