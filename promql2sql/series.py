"""Series descriptions of the promqltest format: ``a{b="c"} 1+2x10 _ stale 3 _x4``.

Grammar and messages follow upstream's ``series_description`` rules.  Values
come back as a list with one entry per sample slot:

* a ``float`` (the stale marker is :data:`STALE_NAN`, a NaN with Prometheus's
  bit pattern; test it with :func:`is_stale`),
* ``None`` for an omitted sample (``_``),
* a :class:`HistogramValue` for ``{{...}}``, or a :class:`HistogramRampStep`
  for element *i* of ``{{A}}+{{B}}xN``; native-histogram arithmetic is left
  to the code that stores histograms.

>>> parse_series_desc('up{job="a"} 1+1x2 _ stale')[0]
{'__name__': 'up', 'job': 'a'}
>>> parse_series_desc('up{job="a"} 1+1x2 _ stale')[1][:4]
[1.0, 2.0, 3.0, None]
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import TypeAlias

from .errors import ParseError, PositionRange
from .gostr import float_bits, go_quote
from .lexer_series import tokenize_series_desc
from .parse_base import ParserBase, ParserOptions, _Stop
from .tokens import Tok

__all__ = [
    "STALE_NAN",
    "HistogramRampStep",
    "HistogramValue",
    "SeriesValue",
    "is_stale",
    "parse_series_desc",
]

_STALE_BITS = 0x7FF0000000000002
STALE_NAN: float = struct.unpack("<d", struct.pack("<Q", _STALE_BITS))[0]


def is_stale(value: float) -> bool:
    """Whether ``value`` is Prometheus's stale marker (not just any NaN)."""
    return float_bits(value) == _STALE_BITS


@dataclass(frozen=True, slots=True)
class HistogramValue:
    """A native-histogram literal ``{{schema:1 sum:3 count:4 buckets:[1 2 1]}}``.

    Buckets are absolute counts forming one span that starts at the offset.
    ``hint_set`` records whether ``counter_reset_hint`` was written, since the
    test harness compares the hint only then.
    """

    schema: int = 0
    sum: float = 0.0
    count: float = 0.0
    zero_count: float = 0.0
    zero_threshold: float = 0.0
    positive_buckets: tuple[float, ...] = ()
    positive_offset: int = 0
    negative_buckets: tuple[float, ...] = ()
    negative_offset: int = 0
    custom_values: tuple[float, ...] = ()
    counter_reset_hint: str = "unknown"
    hint_set: bool = False


@dataclass(frozen=True, slots=True)
class HistogramRampStep:
    """Element ``index`` of ``{{base}}+{{delta}}xN`` (``sign`` -1 for ``-``)."""

    base: HistogramValue
    delta: HistogramValue
    sign: int
    index: int


SeriesValue: TypeAlias = "float | HistogramValue | HistogramRampStep | None"

_LABEL_SET = "label set"
_VALUES = "series values"
_METRIC_NAME_KINDS = frozenset({
    Tok.AVG, Tok.BOTTOMK, Tok.BY, Tok.COUNT, Tok.COUNT_VALUES, Tok.FILL, Tok.FILL_LEFT, Tok.FILL_RIGHT,
    Tok.GROUP, Tok.IDENTIFIER, Tok.LAND, Tok.LOR, Tok.LUNLESS, Tok.MAX, Tok.METRIC_IDENTIFIER, Tok.MIN,
    Tok.OFFSET, Tok.QUANTILE, Tok.STDDEV, Tok.STDVAR, Tok.SUM, Tok.TOPK, Tok.WITHOUT, Tok.START, Tok.END,
    Tok.LIMITK, Tok.LIMIT_RATIO, Tok.STEP, Tok.RANGE, Tok.ANCHORED, Tok.SMOOTHED, Tok.MAX_OF, Tok.MIN_OF,
})  # fmt: skip
_FLOAT_KEYS = {
    Tok.SUM_DESC: "sum",
    Tok.COUNT_DESC: "count",
    Tok.ZERO_BUCKET_DESC: "zero_count",
    Tok.ZERO_BUCKET_WIDTH_DESC: "zero_threshold",
}
_INT_KEYS = {
    Tok.SCHEMA_DESC: "schema",
    Tok.OFFSET_DESC: "positive_offset",
    Tok.NEGATIVE_OFFSET_DESC: "negative_offset",
}
_LIST_KEYS = {
    Tok.BUCKETS_DESC: "positive_buckets",
    Tok.NEGATIVE_BUCKETS_DESC: "negative_buckets",
    Tok.CUSTOM_VALUES_DESC: "custom_values",
}
_KEY_NAMES = {
    Tok.SCHEMA_DESC: "schema",
    Tok.SUM_DESC: "sum",
    Tok.COUNT_DESC: "count",
    Tok.ZERO_BUCKET_DESC: "z_bucket",
    Tok.ZERO_BUCKET_WIDTH_DESC: "z_bucket_w",
    Tok.BUCKETS_DESC: "buckets",
    Tok.OFFSET_DESC: "offset",
    Tok.NEGATIVE_BUCKETS_DESC: "n_buckets",
    Tok.NEGATIVE_OFFSET_DESC: "n_offset",
    Tok.CUSTOM_VALUES_DESC: "custom_values",
    Tok.COUNTER_RESET_HINT_DESC: "counter_reset_hint",
}
_HINTS = {
    Tok.UNKNOWN_COUNTER_RESET: "unknown",
    Tok.COUNTER_RESET: "reset",
    Tok.NOT_COUNTER_RESET: "not_reset",
    Tok.GAUGE_TYPE: "gauge",
}


class _SeriesParser(ParserBase):
    def parse(self) -> tuple[dict[str, str], list[SeriesValue]]:
        name_tok = self.peek()
        if name_tok.kind in _METRIC_NAME_KINDS:
            self.advance()
        labels = self.label_set() if self.at(Tok.LEFT_BRACE) else {}
        if name_tok.kind in _METRIC_NAME_KINDS:
            # A name outside the braces wins over a __name__ inside them.
            labels["__name__"] = name_tok.val
        values: list[SeriesValue] = []
        with self.context(_VALUES, ""):
            while not self.at(Tok.EOF):
                self.expect(Tok.SPACE)
                if not self.at(Tok.SPACE, Tok.EOF):
                    values.extend(self.item())
        return dict(sorted(labels.items())), values

    def label_set(self) -> dict[str, str]:
        self.advance()
        labels: dict[str, str] = {}
        while not self.at(Tok.RIGHT_BRACE):
            tok = self.peek()
            if tok.kind not in (Tok.IDENTIFIER, Tok.STRING):
                self.unexpected(_LABEL_SET, 'identifier or "}"')
            self.advance()
            name = tok.val if tok.kind is Tok.IDENTIFIER else self.unquote(tok)
            if self.at(Tok.EQL):
                self.advance()
                if not self.at(Tok.STRING):
                    self.unexpected(_LABEL_SET, "string")
                labels[name] = self.unquote(self.advance())
            elif tok.kind is Tok.IDENTIFIER:
                self.unexpected(_LABEL_SET, '"="')
            else:
                labels["__name__"] = name
            if self.at(Tok.COMMA):
                self.advance()
            elif not self.at(Tok.RIGHT_BRACE):
                self.unexpected(_LABEL_SET, '"," or "}"')
        self.advance()
        return labels

    def repetitions(self) -> int:
        tok = self.expect(Tok.NUMBER)
        if tok.val.isascii() and tok.val.isdigit() and int(tok.val) < 1 << 64:
            return int(tok.val)
        reason = "value out of range" if tok.val.isdigit() else "invalid syntax"
        self.error(
            f"invalid repetition in series values: strconv.ParseUint: parsing {go_quote(tok.val)}: {reason}",
            PositionRange(tok.pos, tok.end),
        )
        return 0

    def signed_number(self) -> float:
        sign = self.advance()
        if not self.at(Tok.NUMBER, Tok.DURATION):
            self.unexpected()
        value = self.number()
        return -value if sign.kind is Tok.SUB else value

    def value(self) -> float:
        tok = self.peek()
        if tok.kind is Tok.IDENTIFIER:
            if tok.val != "stale":
                self.unexpected(_VALUES, 'number or "stale"')
            self.advance()
            return STALE_NAN
        if tok.kind in (Tok.ADD, Tok.SUB):
            return self.signed_number()
        if tok.kind not in (Tok.NUMBER, Tok.DURATION):
            self.unexpected()
        return self.number()

    def item(self) -> list[SeriesValue]:
        if self.at(Tok.BLANK):
            self.advance()
            if self.at(Tok.TIMES):
                self.advance()
                return [None] * self.repetitions()
            return [None]
        if self.at(Tok.OPEN_HIST):
            return self.histogram_item()
        start = self.value()
        if self.at(Tok.TIMES):
            self.advance()
            return [start] * (self.repetitions() + 1)
        if self.at(Tok.ADD, Tok.SUB):
            step = self.signed_number()
            self.expect(Tok.TIMES)
            out: list[SeriesValue] = []
            current = start
            # Accumulate like upstream (a += b each step) so rounding matches.
            for _ in range(self.repetitions() + 1):
                out.append(current)
                current += step
            return out
        return [start]

    def histogram_item(self) -> list[SeriesValue]:
        base = self.histogram()
        if self.at(Tok.TIMES):
            self.advance()
            return [base] * (self.repetitions() + 1)
        if self.at(Tok.ADD, Tok.SUB):
            sign = 1 if self.advance().kind is Tok.ADD else -1
            delta = self.histogram()
            self.expect(Tok.TIMES)
            count = self.repetitions()
            return [HistogramRampStep(base, delta, sign, i) for i in range(count + 1)]
        return [base]

    def signed_or_unsigned(self) -> float:
        if self.at(Tok.ADD, Tok.SUB):
            return self.signed_number()
        if not self.at(Tok.NUMBER, Tok.DURATION):
            self.unexpected()
        return self.number()

    def histogram(self) -> HistogramValue:
        self.advance()
        fields: dict[str, object] = {}
        if self.at(Tok.SPACE):
            # Only "{{ }}" may start with a space.
            self.advance()
            if not self.at(Tok.CLOSE_HIST):
                self.unexpected()
        while not self.at(Tok.CLOSE_HIST):
            key = self.peek()
            name, value = self.histogram_field()
            if name in fields:
                self.error(f'duplicate key "{_KEY_NAMES[key.kind]}" in histogram', PositionRange(0, 0))
            else:
                fields[name] = value
            # After the first key, upstream's error rule for the key list applies.
            self.contexts[-1] = ("histogram description", "histogram description key, e.g. buckets:[5 10 7]")
            if self.at(Tok.SPACE):
                self.advance()
            elif not self.at(Tok.CLOSE_HIST):
                self.unexpected()
        self.contexts[-1] = (_VALUES, "")
        self.advance()
        if "counter_reset_hint" in fields:
            fields["hint_set"] = True
        return HistogramValue(**fields)  # type: ignore[arg-type]

    def histogram_field(self) -> tuple[str, object]:
        key = self.peek()
        if key.kind not in _KEY_NAMES:
            self.unexpected()
        self.advance()
        self.expect(Tok.COLON)
        if key.kind in _INT_KEYS:
            negative = self.at(Tok.SUB)
            if negative:
                self.advance()
            count = self.repetitions()
            return _INT_KEYS[key.kind], -count if negative else count
        if key.kind is Tok.ZERO_BUCKET_WIDTH_DESC:
            if not self.at(Tok.NUMBER, Tok.DURATION):
                self.unexpected()
            return "zero_threshold", self.number()
        if key.kind in _FLOAT_KEYS:
            return _FLOAT_KEYS[key.kind], self.signed_or_unsigned()
        if key.kind in _LIST_KEYS:
            return _LIST_KEYS[key.kind], self.bucket_list()
        if self.peek().kind not in _HINTS:
            self.unexpected()
        return "counter_reset_hint", _HINTS[self.advance().kind]

    def bucket_list(self) -> tuple[float, ...]:
        # "[" value (SPACE value)* [SPACE] "]": at least one value, no leading space.
        self.expect(Tok.LEFT_BRACKET)
        values = [self.signed_or_unsigned()]
        while not self.at(Tok.RIGHT_BRACKET):
            self.expect(Tok.SPACE)
            if not self.at(Tok.RIGHT_BRACKET):
                values.append(self.signed_or_unsigned())
        self.advance()
        return tuple(values)


def parse_series_desc(
    text: str, options: ParserOptions | None = None
) -> tuple[dict[str, str], list[SeriesValue]]:
    """Parse a ``load`` line into its label set (sorted) and per-slot values."""
    parser = _SeriesParser(text, options or ParserOptions(), tokenize_series_desc(text))
    try:
        labels, values = parser.parse()
    except _Stop:
        raise parser.first_error() from None
    if parser.errors:
        message, pos = parser.errors[0]
        raise ParseError.at(text, message, pos)
    return labels, values
