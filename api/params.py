"""Request parameters the way Prometheus reads them (``web/api/v1/api.go``).

Parameters come from the URL query and, on POST, from an ``application/x-www-form-urlencoded``
body (Go's ``r.FormValue``: the body wins for a single value; ``r.Form`` lists body values
first). Times are float Unix seconds or RFC3339; durations float seconds or Prometheus
duration strings. Error texts are Prometheus's, since clients show them verbatim.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl

from fastapi import Request

from promlake.api.envelope import bad_data, invalid_param
from promlake.promql2sql.durations import DurationError, parse_duration_ns
from promlake.promql2sql.gostr import GoSyntaxError, go_quote, parse_go_float

# api.MinTime / api.MaxTime (kept for compatibility upstream: not quite int64's range), in
# milliseconds, and their RFC3339 spellings, which Go's time.Parse itself cannot read back.
MIN_TIME_MS = -9_223_309_901_257_974_000  # (MinInt64/1000 + 62135596801) s
MAX_TIME_MS = 9_223_309_901_257_974_999  # (MaxInt64/1000 - 62135596801) s + 999999999 ns
MIN_TIME_TEXT = "-292273086-05-16T16:47:06Z"
MAX_TIME_TEXT = "292277025-08-18T07:12:54.999999999Z"

_INT64_MAX = 2**63 - 1
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:[.,](\d{1,9}))?(?:(Z)|([+-])(\d{2}):(\d{2}))"
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class ParamError(ValueError):
    """A value that cannot be parsed; ``str()`` is Prometheus's text, without the parameter."""


@dataclass(frozen=True)
class Params:
    """The merged form: body values first, then URL query values."""

    body: tuple[tuple[str, str], ...]
    query: tuple[tuple[str, str], ...]

    @classmethod
    async def read(cls, request: Request) -> Params:
        body: list[tuple[str, str]] = []
        if request.method in ("POST", "PUT", "PATCH"):
            ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if ctype == "application/x-www-form-urlencoded":
                raw = await request.body()
                body = parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True)
        return cls(tuple(body), tuple(request.query_params.multi_items()))

    def get(self, name: str) -> str:
        """``r.FormValue(name)``: the first value, the body's before the URL's; "" if absent."""
        for key, value in self.body:
            if key == name:
                return value
        for key, value in self.query:
            if key == name:
                return value
        return ""

    def getlist(self, name: str) -> list[str]:
        """``r.Form[name]``: every value, the body's first."""
        return [v for k, v in self.body if k == name] + [v for k, v in self.query if k == name]


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def _go_round(x: float) -> int:
    """``math.Round``: half away from zero."""
    return math.floor(abs(x) + 0.5) * (1 if x >= 0 else -1)


def parse_time(text: str) -> int:
    """``parseTime``: float Unix seconds (rounded to ms) or RFC3339; milliseconds since the epoch."""
    try:
        seconds = parse_go_float(text)
    except GoSyntaxError:
        pass
    else:
        if math.isnan(seconds):
            raise ParamError(f"cannot parse {go_quote(text)} to a valid timestamp")
        if math.isinf(seconds):
            return MAX_TIME_MS if seconds > 0 else MIN_TIME_MS
        frac, whole = math.modf(seconds)
        ms = int(whole) * 1000 + _go_round(frac * 1000)
        return min(max(ms, MIN_TIME_MS), MAX_TIME_MS)
    if text == MIN_TIME_TEXT:
        return MIN_TIME_MS
    if text == MAX_TIME_TEXT:
        return MAX_TIME_MS
    parsed = _parse_rfc3339(text)
    if parsed is None:
        raise ParamError(f"cannot parse {go_quote(text)} to a valid timestamp")
    return parsed


def _parse_rfc3339(text: str) -> int | None:
    m = _RFC3339.fullmatch(text)
    if m is None:
        return None
    year, month, day, hour, minute, sec, frac, _z, sign, oh, om = m.groups()
    try:
        base = datetime(int(year), int(month), int(day), int(hour), int(minute), int(sec), tzinfo=UTC)
    except ValueError:
        return None
    if int(oh or 0) > 23 or int(om or 0) > 59:
        return None
    offset = timedelta(hours=int(oh or 0), minutes=int(om or 0)) * (-1 if sign == "-" else 1)
    delta = base - offset - _EPOCH
    ms = (delta.days * 86_400 + delta.seconds) * 1000
    # timestamp.FromTime truncates the nanoseconds to whole milliseconds.
    return ms + int((frac or "0").ljust(9, "0")) // 1_000_000


def parse_time_param(params: Params, name: str, default: int) -> int:
    """``parseTimeParam``: the default when absent; errors name the parameter twice, as upstream."""
    text = params.get(name)
    if text == "":
        return default
    try:
        return parse_time(text)
    except ParamError as exc:
        raise invalid_param(name, f"invalid time value for '{name}': {exc}") from None


def parse_required_time(params: Params, name: str) -> int:
    """``parseTime(r.FormValue(name))`` as query_range uses it: an absent value is an error."""
    try:
        return parse_time(params.get(name))
    except ParamError as exc:
        raise invalid_param(name, str(exc)) from None


def parse_duration(text: str) -> int:
    """``parseDuration``: float seconds or a duration string; nanoseconds (a Go Duration)."""
    try:
        seconds = parse_go_float(text)
    except GoSyntaxError:
        pass
    else:
        ns = seconds * 1e9
        if math.isnan(ns):
            raise ParamError(f"cannot parse {go_quote(text)} to a valid duration")
        if ns > _INT64_MAX or ns < -(2**63):
            raise ParamError(f"cannot parse {go_quote(text)} to a valid duration. It overflows int64")
        return int(ns)
    try:
        return parse_duration_ns(text)
    except DurationError:
        raise ParamError(f"cannot parse {go_quote(text)} to a valid duration") from None


def parse_duration_param(params: Params, name: str) -> int | None:
    """An optional duration parameter in nanoseconds (``timeout``), None when absent."""
    text = params.get(name)
    if text == "":
        return None
    try:
        return parse_duration(text)
    except ParamError as exc:
        raise invalid_param(name, str(exc)) from None


def parse_lookback_delta(params: Params) -> int | None:
    """``extractQueryOpts``: the per-query lookback in ms; its error has its own wording."""
    text = params.get("lookback_delta")
    if text == "":
        return None
    try:
        ns = parse_duration(text)
    except ParamError as exc:
        raise bad_data(f"error parsing lookback delta duration: {exc}") from None
    return ns // 1_000_000 if ns > 0 else None


def _atoi(text: str) -> int:
    """``strconv.Atoi`` with its error texts."""
    if not re.fullmatch(r"[+-]?\d+", text):
        raise ParamError(f"strconv.Atoi: parsing {go_quote(text)}: invalid syntax")
    value = int(text)
    if not -(2**63) <= value <= _INT64_MAX:
        raise ParamError(f"strconv.Atoi: parsing {go_quote(text)}: value out of range")
    return value


def parse_limit(params: Params) -> int:
    """``parseLimitParam``: 0 (no limit) when absent; negative values are refused."""
    text = params.get("limit")
    if text == "":
        return 0
    try:
        limit = _atoi(text)
    except ParamError as exc:
        raise invalid_param("limit", str(exc)) from None
    if limit < 0:
        raise invalid_param("limit", "limit must be non-negative")
    return limit


def parse_count(params: Params, name: str) -> int:
    """The metadata endpoints' ``limit``/``limit_per_metric``: -1 when absent."""
    text = params.get(name)
    if text == "":
        return -1
    try:
        return _atoi(text)
    except ParamError:
        raise bad_data(f"{name} must be a number") from None


def unescape_name(name: str) -> str:
    """``model.UnescapeName(name, ValueEncodingEscaping)``: ``U__http_2e_status`` -> ``http.status``.

    Anything malformed gives the input back unchanged, as upstream does.
    """
    if not name.startswith("U__"):
        return name
    body = name[3:].encode("utf-8", "surrogateescape")
    out = bytearray()
    i = 0
    while i < len(body):
        if body[i] != ord("_"):
            out.append(body[i])
            i += 1
            continue
        i += 1
        if i >= len(body):
            return name
        if body[i] == ord("_"):
            out.append(ord("_"))
            i += 1
            continue
        end = body.find(b"_", i)
        code = body[i:end].decode("ascii", "replace") if end >= 0 else ""
        if end < 0 or not 1 <= len(code) <= 6 or not re.fullmatch(r"[0-9a-fA-F]+", code):
            return name
        rune = int(code, 16)
        if rune > 0x10FFFF or 0xD800 <= rune <= 0xDFFF:
            return name
        out += chr(rune).encode("utf-8")
        i = end + 1
    return out.decode("utf-8", "surrogateescape")
