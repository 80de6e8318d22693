"""PromQL front end and compiler: parse PromQL, then plan it onto SQL and Polars.

>>> from promlake.promql2sql import parse_expr, to_string
>>> to_string(parse_expr("sum by(job)(rate(up[5m]))"))
'sum by (job) (rate(up[5m]))'
"""

from __future__ import annotations

from .durations import format_duration, parse_duration
from .errors import ParseError, PromQLError
from .parser import ParserOptions, parse_expr
from .printer import prettify, to_string
from .series import parse_series_desc

__all__ = [
    "ParseError",
    "ParserOptions",
    "PromQLError",
    "format_duration",
    "parse_duration",
    "parse_expr",
    "parse_series_desc",
    "prettify",
    "to_string",
]
