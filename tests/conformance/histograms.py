"""Native-histogram values of the test format: series arithmetic and comparison.

``{{A}}+{{B}}xN`` expands to A, A+B, A+2B... with native-histogram addition (FORMAT.md
section 4.1), and results are compared after compaction (section 7.4). Buckets are handled as
``{index: count}`` maps, which is what compaction reduces any span layout to: after every empty
bucket is dropped, two layouts match exactly when the sets of non-empty indexes do.
"""

from __future__ import annotations

import dataclasses
import math

from promlake.promql2sql.gostr import format_float_g
from promlake.promql2sql.series import HistogramRampStep, HistogramValue

from .floats import almost_equal as _close

__all__ = ["CUSTOM_BUCKETS_SCHEMA", "describe_histogram", "histograms_equal", "materialize"]

CUSTOM_BUCKETS_SCHEMA = -53
Buckets = dict[int, float]


def _buckets(counts: tuple[float, ...], offset: int) -> Buckets:
    return {offset + i: c for i, c in enumerate(counts)}


def _span(buckets: Buckets) -> tuple[tuple[float, ...], int]:
    """Back to one span of absolute counts (zeros fill the gaps), with its offset."""
    if not buckets:
        return (), 0
    low, high = min(buckets), max(buckets)
    return tuple(buckets.get(i, 0.0) for i in range(low, high + 1)), low


def _reduce(buckets: Buckets, by: int) -> Buckets:
    # Lowering the schema by `by` merges 2**by neighbours: index i goes to ((i-1) >> by) + 1.
    out: Buckets = {}
    for i, c in buckets.items():
        j = ((i - 1) >> by) + 1
        out[j] = out.get(j, 0.0) + c
    return out


def _fold_into_zero(buckets: Buckets, schema: int, threshold: float) -> tuple[Buckets, float]:
    """Move buckets whose upper bound is within the zero bucket into the zero count."""
    if schema == CUSTOM_BUCKETS_SCHEMA or threshold == 0:
        return buckets, 0.0
    base = 2.0 ** (2.0**-schema)
    kept: Buckets = {}
    folded = 0.0
    for i, c in buckets.items():
        if base**i <= threshold:
            folded += c
        else:
            kept[i] = c
    return kept, folded


def _hint(a: str, b: str) -> str:
    if a == b:
        return a
    if "gauge" in (a, b):
        return "gauge"
    return "unknown"  # unknown on either side, or reset against not_reset


def _combine(acc: HistogramValue, other: HistogramValue, sign: int) -> HistogramValue:
    """``acc + other`` (sign 1) or ``acc - other`` (sign -1), as upstream's sequence expansion."""
    if acc.schema == CUSTOM_BUCKETS_SCHEMA or other.schema == CUSTOM_BUCKETS_SCHEMA:
        if acc.schema != other.schema or acc.custom_values != other.custom_values:
            raise ValueError("histogram series arithmetic needs equal custom bucket bounds")
    elif acc.schema > other.schema:
        raise ValueError(f"cannot add a schema {other.schema} histogram to a schema {acc.schema} one")
    schema = acc.schema
    pos_a, neg_a = (
        _buckets(acc.positive_buckets, acc.positive_offset),
        _buckets(acc.negative_buckets, acc.negative_offset),
    )
    pos_b, neg_b = (
        _buckets(other.positive_buckets, other.positive_offset),
        _buckets(other.negative_buckets, other.negative_offset),
    )
    if schema != CUSTOM_BUCKETS_SCHEMA and other.schema > schema:
        pos_b, neg_b = _reduce(pos_b, other.schema - schema), _reduce(neg_b, other.schema - schema)
    threshold = max(acc.zero_threshold, other.zero_threshold)
    zero_a, zero_b = acc.zero_count, other.zero_count
    # The wider zero bucket swallows the other side's buckets that now fall inside it.
    if acc.zero_threshold < threshold:
        pos_a, fp = _fold_into_zero(pos_a, schema, threshold)
        neg_a, fn = _fold_into_zero(neg_a, schema, threshold)
        zero_a += fp + fn
    if other.zero_threshold < threshold:
        pos_b, fp = _fold_into_zero(pos_b, schema, threshold)
        neg_b, fn = _fold_into_zero(neg_b, schema, threshold)
        zero_b += fp + fn
    pos = dict(pos_a)
    for i, c in pos_b.items():
        pos[i] = pos.get(i, 0.0) + sign * c
    neg = dict(neg_a)
    for i, c in neg_b.items():
        neg[i] = neg.get(i, 0.0) + sign * c
    positive, positive_offset = _span(pos)
    negative, negative_offset = _span(neg)
    return dataclasses.replace(
        acc,
        sum=acc.sum + sign * other.sum,
        count=acc.count + sign * other.count,
        zero_count=zero_a + sign * zero_b,
        zero_threshold=threshold,
        positive_buckets=positive,
        positive_offset=positive_offset,
        negative_buckets=negative,
        negative_offset=negative_offset,
        counter_reset_hint=_hint(acc.counter_reset_hint, other.counter_reset_hint),
    )


def materialize(value: HistogramValue | HistogramRampStep) -> HistogramValue:
    """The histogram a literal or the element of a ``{{A}}+{{B}}xN`` series stands for."""
    if isinstance(value, HistogramValue):
        return value
    acc = value.base
    for _ in range(value.index):
        acc = _combine(acc, value.delta, value.sign)
    # Whether the hint was written comes from B for every element, A included.
    return dataclasses.replace(acc, hint_set=value.delta.hint_set)


def _compact(counts: tuple[float, ...], offset: int) -> Buckets:
    return {i: c for i, c in _buckets(counts, offset).items() if c != 0}


def _buckets_equal(a: Buckets, b: Buckets) -> bool:
    return a.keys() == b.keys() and all(_close(a[i], b[i]) for i in a)


def histograms_equal(expected: HistogramValue, actual: HistogramValue, *, compare_hint: bool) -> bool:
    """Section 7.4: exact schema, zero threshold and custom bounds; floats within tolerance."""
    if (
        expected.schema != actual.schema
        or not _close(expected.count, actual.count)
        or not _close(expected.sum, actual.sum)
    ):
        return False
    if expected.schema == CUSTOM_BUCKETS_SCHEMA and expected.custom_values != actual.custom_values:
        return False
    if expected.zero_threshold != actual.zero_threshold or not _close(expected.zero_count, actual.zero_count):
        return False
    if not _buckets_equal(
        _compact(expected.negative_buckets, expected.negative_offset),
        _compact(actual.negative_buckets, actual.negative_offset),
    ):
        return False
    if not _buckets_equal(
        _compact(expected.positive_buckets, expected.positive_offset),
        _compact(actual.positive_buckets, actual.positive_offset),
    ):
        return False
    return not compare_hint or expected.counter_reset_hint == actual.counter_reset_hint


def _num(value: float) -> str:
    return (
        format_float_g(value)
        if math.isfinite(value)
        else ("NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf"))
    )


def describe_histogram(h: HistogramValue) -> str:
    """The ``{{...}}`` spelling of a histogram, with the fields that are set."""
    parts = [f"schema:{h.schema}", f"count:{_num(h.count)}", f"sum:{_num(h.sum)}"]
    if h.zero_count or h.zero_threshold:
        parts += [f"z_bucket:{_num(h.zero_count)}", f"z_bucket_w:{_num(h.zero_threshold)}"]
    if h.positive_buckets:
        parts.append("buckets:[" + " ".join(_num(c) for c in h.positive_buckets) + "]")
        if h.positive_offset:
            parts.append(f"offset:{h.positive_offset}")
    if h.negative_buckets:
        parts.append("n_buckets:[" + " ".join(_num(c) for c in h.negative_buckets) + "]")
        if h.negative_offset:
            parts.append(f"n_offset:{h.negative_offset}")
    if h.custom_values:
        parts.append("custom_values:[" + " ".join(_num(c) for c in h.custom_values) + "]")
    if h.counter_reset_hint != "unknown":
        parts.append(f"counter_reset_hint:{h.counter_reset_hint}")
    return "{{" + " ".join(parts) + "}}"
