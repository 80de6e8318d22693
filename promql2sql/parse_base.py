"""Token stream and error bookkeeping shared by the expression and series parsers.

Upstream's parser is LALR (goyacc) and keeps going after an error, collecting
them all, but ``str()`` of the result shows only the first.  We mirror that:
*semantic* errors found while parsing (unknown function, bad duration...) are
recorded and parsing continues; a *syntax* error is recorded and parsing stops,
since everything after it would only be recovery noise.  The first recorded
error is the one reported.

Upstream words a syntax error after the innermost grammar rule that has an
``error`` alternative ("... in label matching, expected string").  The
``context`` stack reproduces that: constructs with such a rule push their
wording while they parse their inside.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from .ast import NumberLiteral
from .durations import DurationError, parse_duration_ns, seconds_of_ns
from .errors import ParseError, PositionRange
from .gostr import GoSyntaxError, go_quote, parse_number, unquote
from .lexer import tokenize
from .tokens import Tok, Token, describe

__all__ = ["ParserBase", "ParserOptions"]

# Kinds after which upstream records "lastClosing", the end used by several
# position ranges (calls, aggregations, modifiers).
_CLOSING = frozenset({Tok.RIGHT_BRACE, Tok.RIGHT_PAREN, Tok.RIGHT_BRACKET, Tok.DURATION, Tok.NUMBER})
# Largest duration literal, in seconds, that fits a Go time.Duration.
_MAX_DURATION_SECONDS = (1 << 63) / 1e9


@dataclass(frozen=True, slots=True)
class ParserOptions:
    """Parser feature flags; the defaults are those of the promqltest engine (all on)."""

    experimental_functions: bool = True
    duration_expr: bool = True
    extended_range_selectors: bool = True
    binop_fill_modifiers: bool = True


class _Stop(Exception):
    """Raised after a syntax error has been recorded."""


class ParserBase:
    """Cursor over the token list plus the error list."""

    def __init__(self, text: str, options: ParserOptions, tokens: list[Token] | None = None) -> None:
        self.text = text
        self.options = options
        self.tokens: list[Token] = tokenize(text) if tokens is None else tokens
        self.i = 0
        self.last_closing = 0
        self.errors: list[tuple[str, PositionRange]] = []
        self.contexts: list[tuple[str, str]] = [("", "")]

    # --- tokens ---------------------------------------------------------------
    def peek(self) -> Token:
        tok = self.tokens[self.i]
        if tok.kind is Tok.ERROR:
            # Reading the error item is when upstream records it; input ends there.
            self.errors.append((tok.val, PositionRange(tok.pos, len(self.text))))
            raise _Stop
        return tok

    def peek2(self) -> Token:
        """The token after the next one (never raises; may be ERROR or EOF)."""
        return self.tokens[min(self.i + 1, len(self.tokens) - 1)]

    def at(self, *kinds: Tok) -> bool:
        return self.peek().kind in kinds

    def advance(self) -> Token:
        tok = self.peek()
        if tok.kind is not Tok.EOF:
            self.i += 1
        if tok.kind in _CLOSING:
            self.last_closing = tok.end
        return tok

    def expect(self, kind: Tok) -> Token:
        if self.peek().kind is not kind:
            self.unexpected()
        return self.advance()

    # --- errors ---------------------------------------------------------------
    def error(self, message: str, pos: PositionRange) -> None:
        """Record a semantic error and keep parsing."""
        self.errors.append((message, pos))

    def unexpected(self, context: str | None = None, expected: str | None = None) -> None:
        """Record "unexpected <token> [in <context>][, expected <what>]" and stop."""
        tok = self.peek()
        if context is None:
            context, expected = self.contexts[-1]
        message = "unexpected " + describe(tok)
        if context:
            message += " in " + context
        if expected:
            message += ", expected " + expected
        self.errors.append((message, PositionRange(tok.pos, tok.end)))
        raise _Stop

    @contextmanager
    def context(self, context: str, expected: str) -> Iterator[None]:
        self.contexts.append((context, expected))
        try:
            yield
        finally:
            self.contexts.pop()

    def first_error(self) -> ParseError:
        message, pos = self.errors[0]
        return ParseError.at(self.text, message, pos)

    # --- literals -------------------------------------------------------------
    def number_value(self, tok: Token) -> float:
        """Upstream's number(): integer with base prefix, else float."""
        try:
            return parse_number(tok.val)
        except GoSyntaxError as err:
            self.error(f"error parsing number: {err}", PositionRange(tok.pos, tok.end))
            return 0.0

    def duration_seconds(self, tok: Token) -> float:
        try:
            return seconds_of_ns(parse_duration_ns(tok.val))
        except DurationError as err:
            self.error(str(err), PositionRange(tok.pos, tok.end))
            return 0.0

    def number_literal(self) -> NumberLiteral:
        """NUMBER or DURATION token as a literal (``number_duration_literal``)."""
        tok = self.advance()
        pos = PositionRange(tok.pos, tok.end)
        if tok.kind is Tok.NUMBER:
            return NumberLiteral(value=self.number_value(tok), pos=pos)
        return NumberLiteral(value=self.duration_seconds(tok), duration=True, pos=pos)

    def number(self) -> float:
        """A bare ``number`` (NUMBER or DURATION) as a float, in seconds for durations."""
        tok = self.advance()
        return self.number_value(tok) if tok.kind is Tok.NUMBER else self.duration_seconds(tok)

    def unquote(self, tok: Token) -> str:
        try:
            return unquote(tok.val)
        except GoSyntaxError as err:
            self.error(f"error unquoting string {go_quote(tok.val)}: {err}", PositionRange(tok.pos, tok.end))
            return ""

    def check_duration_range(self, lit: NumberLiteral, pos: PositionRange) -> NumberLiteral:
        """Reject literals that would overflow a Go time.Duration."""
        if lit.value > _MAX_DURATION_SECONDS or lit.value < -_MAX_DURATION_SECONDS:
            self.error("duration out of range", pos)
            return NumberLiteral(value=0.0)
        return lit
