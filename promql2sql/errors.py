"""Error hierarchy of the PromQL front end and engine.

Each class carries the Prometheus HTTP API ``errorType`` and status code that
``web/api/v1`` would answer with (``getDefaultErrorCode``), so the API layer maps
any of them without knowing where it came from.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "BadDataError",
    "CanceledError",
    "ExecutionError",
    "InternalError",
    "ParseError",
    "PositionRange",
    "PromQLError",
    "QueryTimeoutError",
    "TooManySamplesError",
    "position_label",
]


@dataclass(frozen=True, slots=True)
class PositionRange:
    """Half-open ``[start, end)`` span of a node or token, in characters of the query string."""

    start: int
    end: int


class PromQLError(Exception):
    """Base of every error promql2sql raises on purpose."""

    error_type = "internal"
    http_status = 500


class BadDataError(PromQLError):
    """The request itself is wrong (Prometheus ``bad_data``, HTTP 400)."""

    error_type = "bad_data"
    http_status = 400


class ExecutionError(PromQLError):
    """The query is valid but failed while running (``execution``, HTTP 422)."""

    error_type = "execution"
    http_status = 422


class QueryTimeoutError(PromQLError):
    """The query ran past its deadline (``timeout``, HTTP 503)."""

    error_type = "timeout"
    http_status = 503


class CanceledError(PromQLError):
    """The query was canceled by the client or a shutdown (``canceled``).

    HTTP 499 (nginx's "client closed request"), as Prometheus answers since 2.43; its docs
    still say 503.
    """

    error_type = "canceled"
    http_status = 499


class TooManySamplesError(ExecutionError):
    """The query would hold more than ``--query.max-samples`` samples (``execution``, HTTP 422)."""


class InternalError(PromQLError):
    """A bug on our side (``internal``, HTTP 500)."""

    error_type = "internal"
    http_status = 500


def position_label(query: str, pos: int, line_offset: int = 0) -> str:
    """Render ``pos`` (a character offset into ``query``) as Prometheus's ``line:col``.

    Prometheus counts columns in bytes of UTF-8 (posrange.StartPosInput), so a
    multi-byte character before the position moves the column by its byte length.
    The empty query and out-of-range positions get Prometheus's fixed wording.
    """
    if query == "":
        return "unknown position"
    if pos < 0 or pos > len(query):
        return "invalid position"
    head = query[:pos]
    line = line_offset + 1 + head.count("\n")
    line_start = head.rfind("\n") + 1
    col = len(head[line_start:].encode("utf-8", "surrogateescape")) + 1
    return f"{line}:{col}"


class ParseError(BadDataError):
    """A PromQL syntax or type error; ``str()`` is Prometheus's exact text.

    ``line`` and ``col`` are 1-based (col counted in UTF-8 bytes, as upstream);
    they are ``None`` when the query was empty.
    """

    def __init__(
        self,
        message: str,
        position_range: PositionRange,
        line: int | None,
        col: int | None,
        *,
        label: str | None = None,
    ) -> None:
        self.message = message
        self.position_range = position_range
        self.line = line
        self.col = col
        self._label = label if label is not None else f"{line}:{col}"
        super().__init__(f"{self._label}: parse error: {message}")

    @classmethod
    def at(cls, query: str, message: str, position_range: PositionRange) -> ParseError:
        """Build the error for ``position_range`` inside ``query``."""
        label = position_label(query, position_range.start)
        line: int | None = None
        col: int | None = None
        if ":" in label:
            first, second = label.split(":")
            line, col = int(first), int(second)
        return cls(message, position_range, line, col, label=label)
