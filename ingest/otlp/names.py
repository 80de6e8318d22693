"""Prometheus 3's default OTLP name translation (``UnderscoreEscapingWithSuffixes``).

A transcription of github.com/prometheus/otlptranslator (``MetricNamer`` with suffixes and
escaping, ``LabelNamer`` without UTF-8, ``UnitNamer``), which Prometheus's OTLP receiver uses.
These run once per metric or per distinct attribute key, never per data point.
"""

from __future__ import annotations

import re

UNIT_MAP = {
    "d": "days",
    "h": "hours",
    "min": "minutes",
    "s": "seconds",
    "ms": "milliseconds",
    "us": "microseconds",
    "ns": "nanoseconds",
    "By": "bytes",
    "KiBy": "kibibytes",
    "MiBy": "mebibytes",
    "GiBy": "gibibytes",
    "TiBy": "tibibytes",
    "KBy": "kilobytes",
    "MBy": "megabytes",
    "GBy": "gigabytes",
    "TBy": "terabytes",
    "m": "meters",
    "V": "volts",
    "A": "amperes",
    "J": "joules",
    "W": "watts",
    "g": "grams",
    "Cel": "celsius",
    "Hz": "hertz",
    "1": "",
    "%": "percent",
}
PER_UNIT_MAP = {
    "s": "second",
    "m": "minute",
    "h": "hour",
    "d": "day",
    "w": "week",
    "mo": "month",
    "y": "year",
}

# otlptranslator.MetricType
UNKNOWN, NON_MONOTONIC_COUNTER, MONOTONIC_COUNTER, GAUGE, HISTOGRAM, EXP_HISTOGRAM, SUMMARY = range(7)

_INVALID_METRIC_CHARS = re.compile(r"[^a-zA-Z0-9:]+")
_INVALID_LABEL_CHAR = re.compile(r"[^a-zA-Z0-9]")
_INVALID_LABEL_RUN = re.compile(r"[^a-zA-Z0-9]+")
_UNDERSCORES = re.compile(r"_+")


class NameError_(ValueError):
    """A metric or label name that normalizes to nothing usable."""


def _replace_invalid(unit: str) -> str:
    return "".join(c if (c.isascii() and c.isalnum()) or c == ":" else "_" for c in unit)


def _clean_up_unit(unit: str) -> str:
    return _UNDERSCORES.sub("_", _replace_invalid(unit)).removeprefix("_")


def _unit_suffixes(unit: str) -> tuple[str, str]:
    tokens = unit.split("/", 1)
    main = per = ""
    m = tokens[0].strip()
    if m and "{" not in m and "}" not in m:
        main = UNIT_MAP.get(m, m)
    if len(tokens) > 1 and tokens[1] != "":
        p = tokens[1].strip()
        if p and "{" not in p and "}" not in p:
            per = PER_UNIT_MAP.get(p, p)
        if per:
            per = "per_" + per
    return main, per


def build_unit(unit: str) -> str:
    """``UnitNamer{UTF8Allowed: false}.Build``: the unit stored as metadata."""
    main, per = _unit_suffixes(unit)
    main, per = _clean_up_unit(main), _clean_up_unit(per)
    u = f"{main}_{per}" if main and per else (main or per)
    return u.removeprefix("_").removesuffix("_")


def build_metric_name(name: str, unit: str, metric_type: int) -> str:
    """``MetricNamer{WithMetricSuffixes: true, UTF8Allowed: false}.Build``."""
    tokens = [t for t in _INVALID_METRIC_CHARS.split(name) if t]
    main, per = _unit_suffixes(unit)
    main, per = _clean_up_unit(main), _clean_up_unit(per)
    if main in tokens:
        main = ""
    if per == "per_":
        per = ""
    else:
        per = per.removesuffix("_")
        if per in tokens:
            per = ""
    if per:
        main = main.removesuffix("_")
    if main:
        tokens.append(main)
    if per:
        tokens.append(per)
    if metric_type == MONOTONIC_COUNTER:
        tokens = [t for t in tokens if t != "total"] + ["total"]
    if unit == "1" and metric_type == GAUGE:
        tokens = [t for t in tokens if t != "ratio"] + ["ratio"]
    out = "_".join(tokens)
    if out and out[0].isdigit() and out[0].isascii():
        out = "_" + out
    if not out:
        raise NameError_(f"normalization for metric {name!r} resulted in empty name")
    if out != name and not out.strip("_"):
        raise NameError_(f"normalization for metric {name!r} resulted in invalid name {out!r}")
    return out


def build_label_name(label: str) -> str:
    """``LabelNamer{UTF8Allowed: false}.Build`` with Prometheus's defaults (no underscore
    sanitization, multiple underscores collapsed)."""
    if not label:
        raise NameError_("label name is empty")
    inner = label
    reserved = len(label) >= 4 and label.startswith("__") and label.endswith("__")
    if reserved:
        inner = label[2:-2]
    out = _INVALID_LABEL_RUN.sub("_", inner)
    if reserved:
        out = f"__{out}__"
    if out[0].isdigit():
        out = "key_" + out
    if not out.strip("_"):
        raise NameError_(f"normalization for label name {label!r} resulted in invalid name {out!r}")
    return out
