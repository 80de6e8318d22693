"""Prometheus duration strings (``model.Duration``): ``1h30m``, ``5m``, ``250ms``, ``0``.

Units are ``y w d h m s ms``, biggest first, each at most once; ``1y`` is 365d,
``1w`` 7d and ``1d`` 24h.  Values are whole milliseconds.

>>> parse_duration("1h30m")
5400000
>>> format_duration(5_400_000)
'1h30m'
>>> format_duration(90 * 86_400_000)   # years and weeks only when exact
'90d'
"""

from __future__ import annotations

import math

from .gostr import go_quote

__all__ = ["DurationError", "format_duration", "parse_duration", "parse_duration_ns"]

_NS_PER_MS = 1_000_000
_MS = {
    "y": 365 * 86_400_000,
    "w": 7 * 86_400_000,
    "d": 86_400_000,
    "h": 3_600_000,
    "m": 60_000,
    "s": 1_000,
    "ms": 1,
}
# Order in which units may appear; a unit may only follow a bigger one.
_RANK = {unit: rank for rank, unit in enumerate(_MS, start=1)}
_MAX_NS = (1 << 63) - 1


class DurationError(ValueError):
    """A duration string Prometheus would reject; ``str()`` is Prometheus's message."""


def parse_duration_ns(text: str) -> int:
    """Parse like ``model.ParseDuration`` and return nanoseconds (a Go ``time.Duration``)."""
    if text == "0":
        return 0
    if text == "":
        raise DurationError("empty duration string")
    rest, total, last_rank = text, 0, 0
    while rest:
        i = 0
        while i < len(rest) and "0" <= rest[i] <= "9":
            i += 1
        if i == 0:
            raise DurationError(f"not a valid duration string: {go_quote(text)}")
        value = int(rest[:i])
        if value > _MAX_NS:
            # Go's ParseUint fails first, reported as an invalid string.
            raise DurationError(f"not a valid duration string: {go_quote(text)}")
        rest = rest[i:]
        j = 0
        while j < len(rest) and not "0" <= rest[j] <= "9":
            j += 1
        if j == 0:
            raise DurationError(f"not a valid duration string: {go_quote(text)}")
        unit, rest = rest[:j], rest[j:]
        if unit not in _MS:
            raise DurationError(f"unknown unit {go_quote(unit)} in duration {go_quote(text)}")
        if _RANK[unit] <= last_rank:
            raise DurationError(f"not a valid duration string: {go_quote(text)}")
        last_rank = _RANK[unit]
        mult = _MS[unit] * _NS_PER_MS
        if value > (1 << 63) // mult:
            raise DurationError("duration out of range")
        total += value * mult
        if total > _MAX_NS:
            raise DurationError("duration out of range")
    return total


def parse_duration(text: str) -> int:
    """Parse a Prometheus duration string into whole milliseconds."""
    return parse_duration_ns(text) // _NS_PER_MS


def format_duration(ms: int) -> str:
    """Format milliseconds the way ``model.Duration.String`` does.

    Years and weeks are used only when they divide the value exactly, as
    Prometheus does, so 90 days prints as ``90d``.  Negative values get a
    leading ``-`` (Prometheus's printer adds it the same way).
    """
    if ms == 0:
        return "0s"
    sign = "-" if ms < 0 else ""
    rest = abs(ms)
    parts: list[str] = []
    for unit, size in _MS.items():
        if unit in ("y", "w") and rest % size != 0:
            continue
        count, rest = divmod(rest, size)
        if count > 0:
            parts.append(f"{count}{unit}")
    return sign + "".join(parts)


def seconds_of_ns(ns: int) -> float:
    """``time.Duration.Seconds()``: whole seconds plus the fractional remainder."""
    whole, frac = divmod(abs(ns), 1_000_000_000)
    value = float(whole) + frac / 1e9
    return -value if ns < 0 else value


def ns_of_seconds(seconds: float) -> int:
    """``time.Duration(math.Round(s * 1e9))``, as the parser turns literals into durations."""
    scaled = abs(seconds * 1e9)
    # math.Round rounds half away from zero; Python's round() would round half to even.
    whole = math.floor(scaled)
    if scaled - whole >= 0.5:
        whole += 1
    return int(whole) if seconds >= 0 else -int(whole)


def ms_of_ns(ns: int) -> int:
    """Truncate nanoseconds toward zero to milliseconds, as Go's integer division does."""
    return ns // _NS_PER_MS if ns >= 0 else -(-ns // _NS_PER_MS)
