"""Times, durations, limits and escaped names parsed as Prometheus's API parses them."""

from __future__ import annotations

import pytest

from promlake.api import params as P
from promlake.api.envelope import APIError


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("1435781451.781", 1435781451781),
        ("1435781451", 1435781451000),
        ("1e9", 1_000_000_000_000),
        ("2.0015", 2002),  # rounded to the millisecond, half away from zero (Go: 2.002)
        ("-2.0015", -2002),
        ("1.0005", 1000),  # the fraction is 0.00049999... in binary, as in Go
        ("0", 0),
        ("2015-07-01T20:10:51.781Z", 1435781451781),
        ("2015-07-01T20:10:51Z", 1435781451000),
        ("2015-07-01T22:10:51.781+02:00", 1435781451781),
        ("2015-07-01T20:10:51.7819999Z", 1435781451781),  # nanoseconds truncated
        ("1700000000000", 1_700_000_000_000_000),  # Grafana's probe sends ms as seconds: fine
        (P.MIN_TIME_TEXT, P.MIN_TIME_MS),
        (P.MAX_TIME_TEXT, P.MAX_TIME_MS),
    ],
)
def test_parse_time(text, ms):
    assert P.parse_time(text) == ms


@pytest.mark.parametrize(
    "text", ["x", "", "2015-07-01", "2015-02-30T00:00:00Z", "2015-07-01 20:10:51Z", "NaN", "1e400"]
)
def test_bad_times(text):
    with pytest.raises(P.ParamError, match=r'cannot parse ".*" to a valid timestamp'):
        P.parse_time(text)


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("15", 15 * 10**9),
        ("0.5", 5 * 10**8),
        ("5m", 300 * 10**9),
        ("1h30m", 5400 * 10**9),
        ("100ms", 10**8),
        ("0", 0),
        ("1d", 86400 * 10**9),
    ],
)
def test_parse_duration(text, ns):
    assert P.parse_duration(text) == ns


@pytest.mark.parametrize("text", ["1.5m", "30m1h", "-5m", "x", ""])
def test_bad_durations(text):
    with pytest.raises(P.ParamError, match="to a valid duration"):
        P.parse_duration(text)


def test_duration_overflow_is_reported():
    with pytest.raises(P.ParamError, match="It overflows int64"):
        P.parse_duration("1e20")


def _params(**kw: str) -> P.Params:
    return P.Params((), tuple(kw.items()))


def test_limit():
    assert P.parse_limit(_params()) == 0
    assert P.parse_limit(_params(limit="5")) == 5
    with pytest.raises(APIError, match="limit must be non-negative"):
        P.parse_limit(_params(limit="-1"))
    with pytest.raises(
        APIError, match=r'invalid parameter "limit": strconv.Atoi: parsing "x": invalid syntax'
    ):
        P.parse_limit(_params(limit="x"))


def test_form_values_prefer_the_body_and_lists_merge():
    p = P.Params((("query", "body"), ("match[]", "b")), (("query", "url"), ("match[]", "u"), ("time", "1")))
    assert p.get("query") == "body"
    assert p.get("time") == "1"
    assert p.get("absent") == ""
    assert p.getlist("match[]") == ["b", "u"]


@pytest.mark.parametrize(
    ("escaped", "name"),
    [
        ("U__http_2e_status__code", "http.status_code"),
        ("U__http_2e_status_code", "U__http_2e_status_code"),  # "_c" starts a bad escape: unchanged, as Go
        ("U__a__b", "a_b"),
        ("U__smile_1f600_", "smile\U0001f600"),
        ("job", "job"),
        ("U__bad_zz_", "U__bad_zz_"),  # not hex: unchanged
        ("U__open_2e", "U__open_2e"),  # no closing underscore: unchanged
        ("U__big_1234567_", "U__big_1234567_"),  # more than 6 hex digits: unchanged
        ("U__sur_d800_", "U__sur_d800_"),  # not a valid rune: unchanged
    ],
)
def test_unescape_name(escaped, name):
    assert P.unescape_name(escaped) == name
