"""PromQL lexer: turns a query into tokens (series descriptions: ``lexer_series``).

It reproduces the state machine of Prometheus's ``promql/parser/lex.go``,
because several PromQL rules live in the lexer rather than the grammar: which
words are keywords (case-insensitively, and ``fill`` only before ``(``), that
label names inside ``{}`` are never keywords, that ``[...]`` holds a duration
expression, and the exact wording and position of lexical errors.

The lexer does not depend on the parser, so :func:`tokenize` lexes eagerly.
The list ends with an ``EOF`` or an ``ERROR`` token (whose ``val`` is the
message and whose span, as upstream reports it, runs to the end of the input).
Comments are dropped.  Positions are character offsets into the input.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from .gostr import go_quote, go_quote_rune, go_rune_u, is_invalid_rune
from .tokens import KEYWORDS, Tok, Token

__all__ = ["Lexer", "State", "tokenize"]

_EOF = ""  # what _next() returns past the end; never a real character
_SPACE = " \t\n\r"
_DIGITS = "0123456789"
_HEX_DIGITS = "0123456789abcdefABCDEF"
_WORD = re.compile(r"[A-Za-z0-9_:]*")
_IDENT = re.compile(r"[A-Za-z0-9_]*")
_ALPHAS = re.compile(r"[A-Za-z_]*")
_DURATION_WORDS = {"step": Tok.STEP, "range": Tok.RANGE, "max_of": Tok.MAX_OF, "min_of": Tok.MIN_OF}
_SIMPLE_OPS = {
    ",": Tok.COMMA,
    "*": Tok.MUL,
    "/": Tok.DIV,
    "%": Tok.MOD,
    "+": Tok.ADD,
    "-": Tok.SUB,
    "^": Tok.POW,
}
_DURATION_OPS = {
    "+": Tok.ADD,
    "-": Tok.SUB,
    "*": Tok.MUL,
    "/": Tok.DIV,
    "%": Tok.MOD,
    "^": Tok.POW,
    ",": Tok.COMMA,
}


def _is_alpha(ch: str) -> bool:
    return ch == "_" or ("a" <= ch <= "z") or ("A" <= ch <= "Z")


def _is_digit(ch: str) -> bool:
    return "0" <= ch <= "9" and ch != ""


def _is_alnum(ch: str) -> bool:
    return _is_alpha(ch) or _is_digit(ch)


class _Done(Exception):
    """Raised internally once EOF or an error token has been emitted."""


State = Callable[[], "State | None"]


class Lexer:
    """The expression lexer; :class:`~.lexer_series.SeriesLexer` adds test-file values."""

    # Series descriptions turn off hex literals ("0x3" is "0 three more times").
    series_desc = False

    def __init__(self, text: str) -> None:
        self.src = text
        self.n = len(text)
        self.pos = 0
        self.start = 0
        self.width = 0
        self.tokens: list[Token] = []
        self.paren_depth = 0
        self.brace_open = False
        self.bracket_open = False
        self.got_colon = False
        self.got_duration = False
        self.string_open = ""

    # --- primitives ---------------------------------------------------------
    def _next(self) -> str:
        if self.pos >= self.n:
            self.width = 0  # so that a following _backup() stays at the end
            return _EOF
        ch = self.src[self.pos]
        self.pos += 1
        self.width = 1
        return ch

    def _backup(self) -> None:
        self.pos -= self.width

    def _peek(self) -> str:
        return self.src[self.pos] if self.pos < self.n else _EOF

    def _accept(self, valid: str) -> bool:
        ch = self._peek()
        if ch and ch in valid:
            self.pos += 1
            return True
        return False

    def _emit(self, kind: Tok) -> None:
        self.tokens.append(Token(kind, self.start, self.src[self.start : self.pos]))
        self.start = self.pos

    def _error(self, message: str, *, replaces_last: bool = False) -> None:
        # Upstream reports lexer errors from the pending item's start to the end
        # of input.  When a state emitted an item and then failed, the error
        # overwrote that item, so the parser never saw it (replaces_last).
        if replaces_last:
            self.tokens.pop()
        self.tokens.append(Token(Tok.ERROR, self.start, message))
        raise _Done

    def _skip_spaces(self) -> None:
        while self.pos < self.n and self.src[self.pos] in _SPACE:
            self.pos += 1
        self.start = self.pos

    # --- driver ---------------------------------------------------------------
    def run(self) -> list[Token]:
        state: State | None = self.statements
        try:
            while state is not None:
                state = state()
        except _Done:
            pass
        return self.tokens

    # --- states -------------------------------------------------------------
    # Hooks for the series-description lexer.
    def _resume(self) -> State | None:
        """A state to continue in instead of plain statements (histogram literals)."""
        return None

    def _after_word(self) -> State | None:
        return self.statements

    def _after_braces(self) -> State | None:
        return self.statements

    def statements(self) -> State | None:
        resume = self._resume()
        if resume is not None:
            return resume
        if self.brace_open:
            return self.inside_braces
        if self.src.startswith("#", self.pos):
            return self.comment
        ch = self._next()
        if ch == _EOF:
            if self.paren_depth != 0:
                self._error("unclosed left parenthesis")
            if self.bracket_open:
                self._error("unclosed left bracket")
            self.tokens.append(Token(Tok.EOF, self.start, ""))
            raise _Done
        if ch in _SPACE:
            self._skip_spaces()
        elif ch in _SIMPLE_OPS:
            self._emit(_SIMPLE_OPS[ch])
        elif ch == "=":
            nxt = self._peek()
            if nxt == "=":
                self.pos += 1
                self._emit(Tok.EQLC)
            elif nxt == "~":
                self._error("unexpected character after '=': '~'")
            else:
                self._emit(Tok.EQL)
        elif ch == "!":
            nxt = self._next()
            if nxt != "=":
                self._error(f"unexpected character after '!': {go_quote_rune(nxt or chr(0xFFFD))}")
            self._emit(Tok.NEQ)
        elif ch in "<>":
            if self._accept("="):
                self._emit(Tok.LTE if ch == "<" else Tok.GTE)
            elif self._accept("/"):
                self._emit(Tok.TRIM_UPPER if ch == "<" else Tok.TRIM_LOWER)
            else:
                self._emit(Tok.LSS if ch == "<" else Tok.GTR)
        elif _is_digit(ch) or (ch == "." and _is_digit(self._peek())):
            self._backup()
            return self.number_or_duration
        elif ch in "\"'":
            self.string_open = ch
            return self.string
        elif ch == "`":
            return self.raw_string
        elif _is_alpha(ch) or ch == ":":
            return self._word_in_statements(ch)
        elif ch == "(":
            self._emit(Tok.LEFT_PAREN)
            self.paren_depth += 1
        elif ch == ")":
            self._emit(Tok.RIGHT_PAREN)
            self.paren_depth -= 1
            if self.paren_depth < 0:
                self._error("unexpected right parenthesis ')'", replaces_last=True)
        elif ch == "{":
            self._emit(Tok.LEFT_BRACE)
            self.brace_open = True
            return self.inside_braces
        elif ch == "[":
            if self.bracket_open:
                self._error("unexpected left bracket '['")
            self.got_colon = False
            self._emit(Tok.LEFT_BRACKET)
            self._skip_spaces()
            self.bracket_open = True
            return self.duration_expr
        elif ch == "]":
            if not self.bracket_open:
                self._error("unexpected right bracket ']'")
            self._emit(Tok.RIGHT_BRACKET)
            self.bracket_open = False
        elif ch == "@":
            self._emit(Tok.AT)
        else:
            self._error(f"unexpected character: {go_quote_rune(ch)}")
        return self.statements

    def _word_in_statements(self, ch: str) -> State | None:
        if not self.bracket_open:
            self._backup()
            return self.keyword_or_identifier
        # Inside [...] only a colon or a duration keyword may start with a letter.
        if ch == ":":
            if self.got_colon:
                self._error("unexpected colon ':'")
            self._emit(Tok.COLON)
            self.got_colon = True
            return self.statements
        if ch.lower() in "srm" and self._duration_keyword():
            return self.statements
        self._error(f"unexpected character: {go_quote_rune(ch)}, expected ':'")
        return None

    def _duration_keyword(self) -> bool:
        match = _ALPHAS.match(self.src, self.pos)
        assert match is not None
        self.pos = match.end()
        kind = _DURATION_WORDS.get(self.src[self.start : self.pos].lower())
        if kind is None:
            return False
        self._emit(kind)
        return True

    def comment(self) -> State | None:
        end = self.pos
        while end < self.n and self.src[end] not in "\r\n":
            end += 1
        self.pos = end
        self.start = end  # comments are dropped, as the parser skips them upstream
        return self.statements

    def keyword_or_identifier(self) -> State | None:
        match = _WORD.match(self.src, self.pos)
        assert match is not None
        self.pos = match.end()
        word = self.src[self.start : self.pos]
        kind = KEYWORDS.get(word.lower())
        if kind is not None:
            # fill/fill_left/fill_right are keywords only when a "(" follows, so
            # existing metrics called "fill" keep working.
            if kind in (Tok.FILL, Tok.FILL_LEFT, Tok.FILL_RIGHT) and not self._paren_follows():
                kind = Tok.IDENTIFIER
            self._emit(kind)
        elif ":" in word:
            self._emit(Tok.METRIC_IDENTIFIER)
        else:
            self._emit(Tok.IDENTIFIER)
        return self._after_word()

    def _paren_follows(self) -> bool:
        i = self.pos
        while i < self.n and self.src[i] in _SPACE:
            i += 1
        return i < self.n and self.src[i] == "("

    def number_or_duration(self) -> State | None:
        if self._scan_number():
            self._emit(Tok.NUMBER)
            return self.statements
        if self._rest_of_duration():
            self._backup()
            self._emit(Tok.DURATION)
            return self.statements
        self._error(
            f"bad number or duration syntax: {go_quote(self.src[self.start : min(self.pos, self.n)])}"
        )
        return None

    def _rest_of_duration(self) -> bool:
        # A unit must follow the digits; more digit+unit groups may follow.
        # Bad combinations ("hs") are left for the duration parser to report.
        if not self._accept("smhdwy"):
            return False
        self._accept("s")
        while self._accept(_DIGITS):
            while self._accept(_DIGITS):
                pass
            if not self._accept("smhdw"):
                return False
            self._accept("s")
        return not _is_alnum(self._next())

    def _scan_number(self) -> bool:
        """Consume something number-shaped; the parser validates it later."""
        initial = self.pos
        hexa = False
        # Hex is off in series descriptions, where "0x3" means "0 repeated 3 times".
        if not self.series_desc and self._accept("0") and self._accept("xX"):
            self._accept("_")
            hexa = True
        digits = _HEX_DIGITS if hexa else _DIGITS
        self._accept(".")
        self._accept(digits)
        dot_seen = exp_seen = False
        while (ch := self._peek()) and ch in digits + "._eE":
            if ch == ".":
                self.pos += 1
                if dot_seen:
                    return False
                dot_seen = True
                # No "1._5" or "1..", and no fractional hex.
                if self._accept("_.") or hexa:
                    return False
            elif ch in "eE":
                # Upstream tries the exponent branch before plain digits, so
                # this also runs for the hex digit e.
                self.pos += 1
                if exp_seen:
                    return False
                exp_seen = True
                self._accept("+-")
                if self._accept("._eE") or self._peek() == _EOF:
                    return False
            elif ch == "_":
                self.pos += 1
                if self._accept("._eE") or self._peek() == _EOF:
                    return False
            else:
                while self._accept(digits):
                    pass
        if self.pos == initial:
            return False
        nxt = self._peek()
        # The next character must not continue a word, except the "x" of a
        # repetition ("1x5") in series descriptions.
        return (self.series_desc and nxt == "x") or not _is_alnum(nxt)

    def string(self) -> State | None:
        quote = self.string_open
        while True:
            ch = self._next()
            if ch == "\\":
                self._escape(quote)
            elif ch == _EOF or ch == "\n":
                self._error("unterminated quoted string")
            elif is_invalid_rune(ch):
                self._error("invalid UTF-8 rune")
            elif ch == quote:
                break
        self._emit(Tok.STRING)
        return self.statements

    def _escape(self, quote: str) -> None:
        ch = self._next()
        if ch in ("a", "b", "f", "n", "r", "t", "v", "\\", quote) and ch != _EOF:
            return
        if ch == _EOF:
            self._error("escape sequence not terminated")
        if ch in "01234567":
            count, base, limit = 3, 8, 255
        elif ch in "xuU":
            count, base, limit = {"x": (2, 16, 255), "u": (4, 16, 0x10FFFF), "U": (8, 16, 0x10FFFF)}[ch]
            ch = self._next()
        else:
            self._error(f"unknown escape sequence {go_rune_u(ch)}")
        value = 0
        while count > 0:
            digit = int(ch, 16) if ch and ch in _HEX_DIGITS else 16
            if digit >= base:
                if ch == _EOF:
                    self._error("escape sequence not terminated")
                self._error(f"illegal character {go_rune_u(ch)} in escape sequence")
            value = value * base + digit
            count -= 1
            if count > 0:
                ch = self._next()
        if value > limit or 0xD800 <= value < 0xE000:
            self._error("escape sequence is an invalid Unicode code point")

    def raw_string(self) -> State | None:
        while True:
            ch = self._next()
            if ch == _EOF:
                self._error("unterminated raw string")
            if is_invalid_rune(ch):
                self._error("invalid UTF-8 rune")
            if ch == "`":
                break
        self._emit(Tok.STRING)
        return self.statements

    def inside_braces(self) -> State | None:
        # Label names inside braces are never keywords.
        if self.src.startswith("#", self.pos):
            return self.comment
        ch = self._next()
        if ch == _EOF:
            self._error("unexpected end of input inside braces")
        elif ch in _SPACE:
            self._skip_spaces()
            return self.statements
        elif _is_alpha(ch):
            match = _IDENT.match(self.src, self.pos)
            assert match is not None
            self.pos = match.end()
            self._emit(Tok.IDENTIFIER)
            return self.statements
        elif ch == ",":
            self._emit(Tok.COMMA)
        elif ch in "\"'":
            self.string_open = ch
            return self.string
        elif ch == "`":
            return self.raw_string
        elif ch == "=":
            self._emit(Tok.EQL_REGEX if self._accept("~") else Tok.EQL)
        elif ch == "!":
            nxt = self._next()
            if nxt == "~":
                self._emit(Tok.NEQ_REGEX)
            elif nxt == "=":
                self._emit(Tok.NEQ)
            else:
                self._error(
                    f"unexpected character after '!' inside braces: {go_quote_rune(nxt or chr(0xFFFD))}"
                )
        elif ch == "{":
            self._error("unexpected left brace '{'")
        elif ch == "}":
            self._emit(Tok.RIGHT_BRACE)
            self.brace_open = False
            return self._after_braces()
        else:
            self._error(f"unexpected character inside braces: {go_quote_rune(ch)}")
        return self.inside_braces

    def duration_expr(self) -> State | None:
        """Right after "[" and inside its parentheses: duration arithmetic."""
        ch = self._next()
        if ch == _EOF:
            self._error("unexpected end of input in duration expression")
        if ch == "]":
            self._emit(Tok.RIGHT_BRACKET)
            self.bracket_open = False
            self.got_colon = False
            return self.statements
        if ch == ":":
            self._emit(Tok.COLON)
            # Upstream quirk: got_duration is only reset by a histogram bucket
            # list, so this check depends on earlier brackets too.
            if not self.got_duration:
                self._error("unexpected colon before duration in duration expression", replaces_last=True)
            if self.got_colon:
                self._error("unexpected repeated colon in duration expression", replaces_last=True)
            self.got_colon = True
        elif ch == "(":
            self._emit(Tok.LEFT_PAREN)
            self.paren_depth += 1
        elif ch == ")":
            self._emit(Tok.RIGHT_PAREN)
            self.paren_depth -= 1
            if self.paren_depth < 0:
                self._error("unexpected right parenthesis ')'", replaces_last=True)
        elif ch in _SPACE:
            self._skip_spaces()
        elif ch in _DURATION_OPS:
            self._emit(_DURATION_OPS[ch])
        elif ch and ch.lower() in "srm":
            if not self._duration_keyword():
                self._error(f"unexpected character in duration expression: {go_quote_rune(ch)}")
        elif _is_digit(ch) or (ch == "." and _is_digit(self._peek())):
            self._backup()
            self.got_duration = True
            return self.number_or_duration
        else:
            self._error(f"unexpected character in duration expression: {go_quote_rune(ch)}")
        return self.duration_expr


def tokenize(text: str) -> list[Token]:
    """Lex a PromQL expression; the list ends with an EOF or ERROR token."""
    return Lexer(text).run()
