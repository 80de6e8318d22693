"""Go string and number conventions that leak into PromQL's texts.

Prometheus's messages and printed queries are made with Go's ``strconv`` and
``fmt``; matching them byte for byte needs these small re-implementations.

Strings are Python ``str``.  Bytes that are not valid UTF-8 (possible in Go
strings, e.g. ``"\\xff"``) are carried as lone surrogates ``U+DC80..U+DCFF``
(Python's ``surrogateescape``), so nothing is lost and Go's quoting can be
reproduced.
"""

from __future__ import annotations

import math
import re
import struct
from decimal import Decimal

__all__ = [
    "GoSyntaxError",
    "format_float_f",
    "format_float_g",
    "format_float_pct_f",
    "go_quote",
    "go_quote_rune",
    "go_rune_u",
    "is_invalid_rune",
    "parse_go_float",
    "parse_go_int",
    "parse_number",
    "unquote",
]


class GoSyntaxError(ValueError):
    """A Go ``strconv`` error; ``str()`` is Go's message."""


def is_invalid_rune(ch: str) -> bool:
    """True for what Go's UTF-8 decoder reports as ``RuneError``.

    Go cannot tell an undecodable byte from a literal U+FFFD (both decode to
    RuneError), and the PromQL lexer rejects both inside strings.
    """
    return ch == "\ufffd" or "\ud800" <= ch <= "\udfff"


_SIMPLE_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
    "\\": "\\\\",
}


def _escape(ch: str, quote: str) -> str:
    # strconv's appendEscapedRune, one character at a time.
    if ch == quote:
        return "\\" + ch
    if ch in _SIMPLE_ESCAPES:
        return _SIMPLE_ESCAPES[ch]
    if "\udc80" <= ch <= "\udcff":
        # An undecodable byte carried by surrogateescape: Go prints it as \x.. .
        return f"\\x{ord(ch) - 0xDC00:02x}"
    if "\ud800" <= ch <= "\udfff":
        # Not a valid rune; Go would have seen U+FFFD.
        return "\\ufffd"
    # Go's unicode.IsPrint and Python's isprintable() draw the same line
    # (letters, marks, numbers, punctuation, symbols and the ASCII space).
    if ch.isprintable():
        return ch
    code = ord(ch)
    if code < 0x20 or code == 0x7F:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def go_quote(s: str) -> str:
    """``strconv.Quote``: a double-quoted Go literal for ``s``."""
    return '"' + "".join(_escape(ch, '"') for ch in s) + '"'


def go_quote_rune(ch: str) -> str:
    """``%q`` of a rune (``strconv.QuoteRune``): ``'x'``."""
    return "'" + _escape(ch, "'") + "'"


def go_rune_u(ch: str) -> str:
    """``%#U`` of a rune: ``U+0063 'c'``, without the quoted part if unprintable."""
    code = ord(ch)
    head = f"U+{code:04X}"
    return f"{head} '{ch}'" if ch.isprintable() and not "\ud800" <= ch <= "\udfff" else head


def go_quote_prefix(s: str, runes: int) -> str:
    """``%.Nq``: quote only the first ``runes`` characters (fmt truncates before quoting)."""
    return go_quote(s[:runes])


def unquote(s: str) -> str:
    """``strutil.Unquote``: decode a PromQL string token (quotes included).

    Escapes follow Go; ``\\x`` and octal escapes produce raw bytes, which are
    decoded as UTF-8 at the end (undecodable ones become lone surrogates).
    """
    if len(s) < 2 or s[0] != s[-1]:
        raise GoSyntaxError("invalid syntax")
    quote, body = s[0], s[1:-1]
    if quote == "`":
        if "`" in body:
            raise GoSyntaxError("invalid syntax")
        return body
    if quote not in "\"'" or "\n" in body:
        raise GoSyntaxError("invalid syntax")
    if "\\" not in body and quote not in body:
        return body
    out = bytearray()
    i, n = 0, len(body)
    while i < n:
        ch = body[i]
        if ch == quote:
            raise GoSyntaxError("invalid syntax")
        if ch != "\\":
            out += ch.encode("utf-8", "surrogateescape")
            i += 1
            continue
        if i + 1 >= n:
            raise GoSyntaxError("invalid syntax")
        esc = body[i + 1]
        i += 2
        simple = {"a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11, "\\": 92}
        if esc in simple:
            out.append(simple[esc])
        elif esc in "xuU":
            width = {"x": 2, "u": 4, "U": 8}[esc]
            digits = body[i : i + width]
            if len(digits) < width or not all(c in "0123456789abcdefABCDEF" for c in digits):
                raise GoSyntaxError("invalid syntax")
            value = int(digits, 16)
            i += width
            if esc == "x":
                out.append(value)
            else:
                if value > 0x10FFFF or 0xD800 <= value < 0xE000:
                    raise GoSyntaxError("invalid syntax")
                out += chr(value).encode("utf-8")
        elif esc in "01234567":
            digits = body[i - 1 : i + 2]
            if len(digits) < 3 or not all(c in "01234567" for c in digits):
                raise GoSyntaxError("invalid syntax")
            value = int(digits, 8)
            if value > 255:
                raise GoSyntaxError("invalid syntax")
            out.append(value)
            i += 2
        elif esc in "'\"" and esc == quote:
            out.append(ord(esc))
        else:
            raise GoSyntaxError("invalid syntax")
    return out.decode("utf-8", "surrogateescape")


# --- numbers -----------------------------------------------------------------

_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1


def _underscore_ok(s: str) -> bool:
    """Go strconv's rule: ``_`` only between digits (a base prefix counts as a digit)."""
    if s[:1] in "+-" and s:
        s = s[1:]
    saw, i, hexa = "^", 0, False
    if len(s) >= 2 and s[0] == "0" and s[1].lower() in "box":
        i, saw, hexa = 2, "0", s[1].lower() == "x"
    for ch in s[i:]:
        if (ch.isdigit() and ch.isascii()) or (hexa and ch.lower() in "abcdef"):
            saw = "0"
            continue
        if ch == "_":
            if saw != "0":
                return False
            saw = "_"
            continue
        if saw == "_":
            return False
        saw = "!"
    return saw != "_"


def parse_go_int(s: str) -> int:
    """``strconv.ParseInt(s, 0, 64)``: base prefixes 0x/0o/0b and a leading-0 octal."""
    body = s[1:] if s[:1] in "+-" else s
    negative = s[:1] == "-"
    base, digits = 10, body
    if len(body) >= 2 and body[0] == "0" and body[1].lower() in "box":
        base, digits = {"b": 2, "o": 8, "x": 16}[body[1].lower()], body[2:]
    elif len(body) > 1 and body[0] == "0":
        base, digits = 8, body[1:]
    if "_" in s:
        if not _underscore_ok(s):
            raise GoSyntaxError(f"strconv.ParseInt: parsing {go_quote(s)}: invalid syntax")
        digits = digits.replace("_", "")
    if not digits or not re.fullmatch(r"[0-9a-fA-F]+", digits):
        raise GoSyntaxError(f"strconv.ParseInt: parsing {go_quote(s)}: invalid syntax")
    try:
        value = int(digits, base)
    except ValueError:
        raise GoSyntaxError(f"strconv.ParseInt: parsing {go_quote(s)}: invalid syntax") from None
    value = -value if negative else value
    if not _INT64_MIN <= value <= _INT64_MAX:
        raise GoSyntaxError(f"strconv.ParseInt: parsing {go_quote(s)}: value out of range")
    return value


_SPECIAL_FLOATS = {"inf": math.inf, "infinity": math.inf, "nan": math.nan}
_DEC_FLOAT = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_HEX_FLOAT = re.compile(r"[+-]?0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)[pP][+-]?\d+")


def parse_go_float(s: str) -> float:
    """``strconv.ParseFloat(s, 64)``, including its overflow error."""
    body = s[1:] if s[:1] in "+-" else s
    special = _SPECIAL_FLOATS.get(body.lower())
    if special is not None:
        return -special if s[:1] == "-" else special
    clean = s
    if "_" in s:
        if not _underscore_ok(s):
            raise GoSyntaxError(f"strconv.ParseFloat: parsing {go_quote(s)}: invalid syntax")
        clean = s.replace("_", "")
    if _DEC_FLOAT.fullmatch(clean):
        value = float(clean)
    elif _HEX_FLOAT.fullmatch(clean):
        value = float.fromhex(clean)
    else:
        raise GoSyntaxError(f"strconv.ParseFloat: parsing {go_quote(s)}: invalid syntax")
    if math.isinf(value):
        raise GoSyntaxError(f"strconv.ParseFloat: parsing {go_quote(s)}: value out of range")
    return value


def parse_number(s: str) -> float:
    """The PromQL parser's ``number()``: try ParseInt with base prefixes, then ParseFloat.

    This is why ``0755`` is 493 and ``0x1F`` is 31 while ``09`` is 9.
    """
    try:
        return float(parse_go_int(s))
    except GoSyntaxError:
        return parse_go_float(s)


def _shortest_digits(value: float) -> tuple[str, int]:
    """Shortest round-trip digits of a finite non-zero ``|value|``: ``0.<digits> * 10**point``."""
    _, digit_tuple, exponent = Decimal(repr(abs(value))).normalize().as_tuple()
    assert isinstance(exponent, int)
    digits = "".join(map(str, digit_tuple))
    return digits, len(digits) + exponent


def _special(value: float) -> str | None:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return None


def format_float_f(value: float) -> str:
    """``strconv.FormatFloat(v, 'f', -1, 64)``: shortest digits, never an exponent."""
    special = _special(value)
    if special is not None:
        return special
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    digits, point = _shortest_digits(value)
    sign = "-" if value < 0 else ""
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return sign + digits + "0" * (point - len(digits))
    return f"{sign}{digits[:point]}.{digits[point:]}"


def format_float_g(value: float) -> str:
    """``fmt`` ``%v`` of a float64 (``%g``, shortest): exponent form below 1e-4 and from 1e6."""
    special = _special(value)
    if special is not None:
        return special
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    digits, point = _shortest_digits(value)
    exp = point - 1
    sign = "-" if value < 0 else ""
    if exp < -4 or exp >= 6:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    return format_float_f(value)


def format_float_pct_f(value: float) -> str:
    """``fmt`` ``%f``: six decimals, Go's spelling of infinities and NaN."""
    special = _special(value)
    if special is not None:
        return special
    return f"{value:.6f}"


def float_bits(value: float) -> int:
    """The IEEE-754 bit pattern, used to tell Prometheus's stale-marker NaN apart."""
    return int(struct.unpack("<Q", struct.pack("<d", value))[0])
