"""Lexer states for series descriptions in test files: ``m{a="b"} 1+2x3 _ {{schema:1}}``.

The same state machine as upstream's ``lex.go`` (``lexValueSequence``,
``lexHistogram``, ``lexBuckets``); expressions never reach these states.
"""

from __future__ import annotations

from .gostr import go_quote, go_quote_rune
from .lexer import _ALPHAS, _EOF, _SPACE, Lexer, State, _is_alpha, _is_digit
from .tokens import KEYWORDS, Tok, Token

__all__ = ["SeriesLexer", "tokenize_series_desc"]

_HISTOGRAM_KEYS = {
    "sum": Tok.SUM_DESC,
    "count": Tok.COUNT_DESC,
    "schema": Tok.SCHEMA_DESC,
    "offset": Tok.OFFSET_DESC,
    "n_offset": Tok.NEGATIVE_OFFSET_DESC,
    "buckets": Tok.BUCKETS_DESC,
    "n_buckets": Tok.NEGATIVE_BUCKETS_DESC,
    "z_bucket": Tok.ZERO_BUCKET_DESC,
    "z_bucket_w": Tok.ZERO_BUCKET_WIDTH_DESC,
    "custom_values": Tok.CUSTOM_VALUES_DESC,
    "counter_reset_hint": Tok.COUNTER_RESET_HINT_DESC,
}
_RESET_HINTS = {
    "unknown": Tok.UNKNOWN_COUNTER_RESET,
    "reset": Tok.COUNTER_RESET,
    "not_reset": Tok.NOT_COUNTER_RESET,
    "gauge": Tok.GAUGE_TYPE,
}
# Histogram sub-states after "}}": the next character is x, + or -.
_NONE, _OPEN, _MUL, _ADD, _SUB = range(5)


class SeriesLexer(Lexer):
    """Lexes a label set followed by space-separated sample values."""

    series_desc = True

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.hist_state = _NONE

    def _resume(self) -> State | None:
        return self.histogram if self.hist_state != _NONE else None

    def _after_word(self) -> State | None:
        return self.statements if self._peek() == "{" else self.value_sequence

    def _after_braces(self) -> State | None:
        return self.value_sequence

    def value_sequence(self) -> State | None:
        if self.hist_state != _NONE:
            return self.histogram
        ch = self._next()
        if ch == _EOF:
            return self.statements
        if ch == "{" and self._peek() == "{":
            self.hist_state = _OPEN
            self.pos += 1
            self._emit(Tok.OPEN_HIST)
            return self.histogram
        if ch in _SPACE:
            self._emit(Tok.SPACE)
            self._skip_spaces()
        elif ch in "+-x_":
            self._emit({"+": Tok.ADD, "-": Tok.SUB, "x": Tok.TIMES, "_": Tok.BLANK}[ch])
        elif _is_digit(ch) or (ch == "." and _is_digit(self._peek())):
            self._backup()
            self._number()
        elif _is_alpha(ch):
            self._backup()
            return self.keyword_or_identifier
        else:
            self._error(f"unexpected character in series sequence: {go_quote_rune(ch)}")
        return self.value_sequence

    def _number(self) -> None:
        if not self._scan_number():
            self._error(f"bad number syntax: {go_quote(self.src[self.start : min(self.pos, self.n)])}")
        self._emit(Tok.NUMBER)

    def histogram(self) -> State | None:
        if self.hist_state in (_MUL, _ADD, _SUB):
            kind = {_MUL: Tok.TIMES, _ADD: Tok.ADD, _SUB: Tok.SUB}[self.hist_state]
            self.hist_state = _NONE
            self.pos += 1
            self._emit(kind)
            return self.value_sequence
        if self.bracket_open:
            return self.buckets
        ch = self._next()
        if ch and ch in _SPACE:
            self._emit(Tok.SPACE)
            self._skip_spaces()
        elif _is_alpha(ch):
            self._backup()
            self._histogram_word()
        elif ch == ":":
            self._emit(Tok.COLON)
        elif ch == "-":
            self._emit(Tok.SUB)
        elif _is_digit(ch):
            self._backup()
            self._number()
        elif ch == "[":
            self.bracket_open = True
            self.got_colon = False
            self.got_duration = False
            self._emit(Tok.LEFT_BRACKET)
            return self.buckets
        elif ch == "}" and self._peek() == "}":
            self.pos += 1
            self._emit(Tok.CLOSE_HIST)
            self.hist_state = {"x": _MUL, "+": _ADD, "-": _SUB}.get(self._peek(), _NONE)
            return self.histogram if self.hist_state != _NONE else self.value_sequence
        else:
            self._error(f"histogram description incomplete unexpected: {go_quote_rune(ch or chr(0xFFFD))}")
        return self.histogram

    def _histogram_word(self) -> None:
        match = _ALPHAS.match(self.src, self.pos)
        assert match is not None
        self.pos = match.end()
        word = self.src[self.start : self.pos].lower()
        if word in _HISTOGRAM_KEYS:
            if self._peek() != ":":
                self._error("missing `:` for histogram descriptor")
            self._emit(_HISTOGRAM_KEYS[word])
        elif KEYWORDS.get(word) is Tok.NUMBER:
            self._emit(Tok.NUMBER)
        elif word in _RESET_HINTS:
            self._emit(_RESET_HINTS[word])
        else:
            self._error(f"bad histogram descriptor found: {go_quote(self.src[self.start : self.pos])}")

    def buckets(self) -> State | None:
        ch = self._next()
        if ch and ch in _SPACE:
            self._emit(Tok.SPACE)
            self._skip_spaces()
        elif ch == "-":
            self._emit(Tok.SUB)
            self._number()
        elif _is_digit(ch):
            self._backup()
            self._number()
        elif ch == "]":
            self.bracket_open = False
            self._emit(Tok.RIGHT_BRACKET)
            return self.histogram
        elif _is_alpha(ch):
            # Letters accumulate until they spell Inf or NaN.
            if KEYWORDS.get(self.src[self.start : self.pos].lower()) is Tok.NUMBER:
                self._emit(Tok.NUMBER)
        else:
            self._error(f"invalid character in buckets description: {go_quote_rune(ch or chr(0xFFFD))}")
        return self.buckets


def tokenize_series_desc(text: str) -> list[Token]:
    """Lex a series description; the list ends with an EOF or ERROR token."""
    return SeriesLexer(text).run()
