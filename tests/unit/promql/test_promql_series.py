"""Series descriptions of the test format (``load`` lines and expected results)."""

from __future__ import annotations

import math

import pytest

from promlake.promql2sql import ParseError, parse_series_desc
from promlake.promql2sql.series import HistogramRampStep, HistogramValue, is_stale


@pytest.mark.parametrize(
    ("text", "labels", "values"),
    [
        ("", {}, []),
        ("{} 1 2 3", {}, [1.0, 2.0, 3.0]),
        ('my_metric{a="b"} 1 2 3-10x4', {"__name__": "my_metric", "a": "b"}, [1, 2, 3, -7, -17, -27, -37]),
        ("m 0+10x3", {"__name__": "m"}, [0, 10, 20, 30]),
        ("m -2+4x3", {"__name__": "m"}, [-2, 2, 6, 10]),
        ("m 1x2 _ _x3 5", {"__name__": "m"}, [1, 1, 1, None, None, None, None, 5]),
        ("m 1 -1 +1", {"__name__": "m"}, [1, -1, 1]),
        ("m 1x0", {"__name__": "m"}, [1.0]),
        (
            '{"http.requests", "service.name"="api"}\t0+50x2',
            {"__name__": "http.requests", "service.name": "api"},
            [0, 50, 100],
        ),
        ('sum{__name__="x", b="c"} 1', {"__name__": "sum", "b": "c"}, [1.0]),
        ("m 1 2 3    ", {"__name__": "m"}, [1, 2, 3]),
    ],
)
def test_values(text: str, labels: dict[str, str], values: list[float | None]) -> None:
    got_labels, got_values = parse_series_desc(text)
    assert got_labels == labels
    assert got_values == values


def test_accumulation_matches_upstream() -> None:
    # Each step adds to the previous value (a += b), so float rounding builds up.
    _, values = parse_series_desc("m 0+0.1x10")
    expected = 0.0
    for got in values:
        assert got == expected
        expected += 0.1


def test_special_values() -> None:
    _, values = parse_series_desc("m stale NaN Inf -Inf")
    assert isinstance(values[0], float) and is_stale(values[0])
    assert isinstance(values[1], float) and math.isnan(values[1]) and not is_stale(values[1])
    assert values[2:] == [math.inf, -math.inf]


def test_histograms() -> None:
    text = "h {{schema:1 sum:-0.3 count:3 z_bucket:1 z_bucket_w:0.05 buckets:[1 2] offset:-3 counter_reset_hint:gauge}}x1"
    _, values = parse_series_desc(text)
    first = HistogramValue(
        schema=1, sum=-0.3, count=3, zero_count=1, zero_threshold=0.05, positive_buckets=(1, 2),
        positive_offset=-3, counter_reset_hint="gauge", hint_set=True,
    )  # fmt: skip
    assert values == [first, first]
    _, ramp = parse_series_desc("h {{count:1}}+{{count:2 custom_values:[1 5]}}x2 {{}}")
    assert [v.index for v in ramp[:3] if isinstance(v, HistogramRampStep)] == [0, 1, 2]
    assert ramp[3] == HistogramValue()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{} 1+1", "1:7: parse error: unexpected end of input in series values"),
        ('my_metric{a="b"} 1 3 _ 5 _a4', '1:27: parse error: unexpected identifier "a4" in series values'),
        ('my_metric{a="b"} -3 _-2', "1:22: parse error: unexpected <op:-> in series values"),
        (
            "m foo",
            '1:3: parse error: unexpected identifier "foo" in series values, expected number or "stale"',
        ),
        (
            '{"http.requests"xx} 1',
            '1:17: parse error: unexpected identifier "xx" in label set, expected "," or "}"',
        ),
        ('{"http.requests"=, x="y"} 1', '1:18: parse error: unexpected "," in label set, expected string'),
        ("{} {{schema:1 schema:1}}", '1:1: parse error: duplicate key "schema" in histogram'),
        ("{} {{foo:1}}", '1:6: parse error: bad histogram descriptor found: "foo"'),
        ("{} {{schema :1}}", "1:6: parse error: missing `:` for histogram descriptor"),
        ("{} {{schema: 1}}", '1:13: parse error: unexpected " " in series values'),
        ("{} {{buckets:[ 1]}}", '1:15: parse error: unexpected " " in series values'),
        ("{} {{ schema:1}}", '1:7: parse error: unexpected "<Item 57372>" "schema" in series values'),
    ],
)
def test_errors(text: str, message: str) -> None:
    with pytest.raises(ParseError) as err:
        parse_series_desc(text)
    assert str(err.value) == message
