"""Label-matcher regexes: Go RE2 syntax checked and evaluated from Python.

Prometheus compiles ``=~``/``!~`` values with Go's ``regexp/syntax`` (Perl
flags, ``.`` matching newline) and anchors them at both ends.  The SQL backend
hands the pattern to DuckDB, which uses RE2 as well; here we only need to
reject what Go rejects, with Go's message, and evaluate a matcher in Python
(e.g. upstream's "does this matcher accept the empty string?" check).

The translation to Python's ``re`` covers the differences that show up in
practice (``\\z``, ``\\Q...\\E``, POSIX classes, ``\\pL``); Python-only syntax
that RE2 refuses (look-around, back-references) is rejected with Go's text.
"""

from __future__ import annotations

import functools
import re

__all__ = ["RegexSyntaxError", "check_regex", "compile_matcher_regex"]

_POSIX = {
    "alnum": "0-9A-Za-z",
    "alpha": "A-Za-z",
    "ascii": "\\x00-\\x7f",
    "blank": "\\t ",
    "cntrl": "\\x00-\\x1f\\x7f",
    "digit": "0-9",
    "graph": "!-~",
    "lower": "a-z",
    "print": " -~",
    "punct": "!-/:-@\\[-`{-~",
    "space": "\\t\\n\\v\\f\\r ",
    "upper": "A-Z",
    "word": "0-9A-Za-z_",
    "xdigit": "0-9A-Fa-f",
}
_FLAGS = re.compile(r"\(\?([imsU]*(?:-[imsU]*)?)\)")
_UNICODE_CLASSES = {"L": "[^\\W\\d_]", "N": "\\d", "Z": "\\s"}


class RegexSyntaxError(ValueError):
    """A pattern Go's regexp parser would reject; ``str()`` is Go's message."""


def _go_error(code: str, expr: str) -> RegexSyntaxError:
    return RegexSyntaxError(f"error parsing regexp: {code}: `{expr}`")


def _translate(pattern: str) -> str:
    """Rewrite RE2-only syntax for Python, raising Go's error for syntax RE2 lacks."""
    out: list[str] = []
    i, n, in_class = 0, len(pattern), False
    # Per open group, how many scoped-flag groups we opened inside it and must
    # close with it (index 0 is the whole pattern).
    pending = [0]
    while i < n:
        ch = pattern[i]
        if ch == "\\":
            if i + 1 >= n:
                raise RegexSyntaxError("error parsing regexp: trailing backslash at end of expression: ``")
            nxt = pattern[i + 1]
            if nxt == "Q" and not in_class:
                end = pattern.find("\\E", i + 2)
                literal = pattern[i + 2 :] if end < 0 else pattern[i + 2 : end]
                out.append(re.escape(literal))
                i = n if end < 0 else end + 2
                continue
            if nxt in "123456789" or nxt in "CgkGKR":
                raise _go_error("invalid escape sequence", pattern[i : i + 2])
            if nxt == "z":
                out.append("\\Z")
            elif nxt in "pP":
                name, width = (pattern[i + 2], 3) if i + 2 < n and pattern[i + 2] != "{" else ("", 0)
                if not name:
                    close = pattern.find("}", i + 2)
                    name, width = pattern[i + 3 : close], close - i + 1
                cls = _UNICODE_CLASSES.get(name, "[^\\x00-\\x7f]")
                if nxt == "P":
                    cls = f"(?:(?!{cls}).)"
                out.append(cls if not in_class else cls.strip("[]"))
                i += width
                continue
            else:
                out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            if pattern.startswith("[:", i):
                close = pattern.find(":]", i + 2)
                name = pattern[i + 2 : close] if close > 0 else ""
                negated = name.startswith("^")
                body = _POSIX.get(name.lstrip("^"))
                if body is not None and not negated:
                    out.append(body)
                    i = close + 2
                    continue
            if ch == "]":
                in_class = False
            elif ch == "[":
                out.append("\\[")
                i += 1
                continue
            out.append(ch)
            i += 1
            continue
        if ch == "[":
            in_class = True
            out.append(ch)
            # A "]" right after "[" or "[^" is a literal in both dialects.
            for prefix in ("^]", "]", "^"):
                if pattern.startswith(prefix, i + 1):
                    out.append(prefix.replace("]", "\\]"))
                    i += len(prefix)
                    break
            i += 1
            continue
        if ch == "(" and pattern.startswith("(?", i):
            head = pattern[i : i + 4]
            if head[:3] in ("(?=", "(?!", "(?#") or head in ("(?<=", "(?<!"):
                raise _go_error("invalid or unsupported Perl syntax", head[:3] if head[2] in "=!#" else head)
            if head.startswith("(?P=") or head.startswith("(?P>"):
                raise _go_error("invalid named capture", head)
            flags = _FLAGS.match(pattern, i)
            if flags is not None:
                # Go lets "(?i)" appear anywhere, acting until its group ends;
                # Python only allows that at the start, so scope it explicitly.
                out.append(f"(?{flags.group(1).replace('U', '')}:")
                pending[-1] += 1
                i = flags.end()
                continue
        if ch == "(":
            pending.append(0)
        elif ch == ")" and len(pending) > 1:
            out.append(")" * pending.pop())
        out.append(ch)
        i += 1
    out.append(")" * pending[0])
    return "".join(out).replace("(?-:", "(?:")


def _python_error(pattern: str, err: re.error) -> RegexSyntaxError:
    """Map Python's compile error onto the message Go would give."""
    msg, pos = err.msg, err.pos or 0
    if msg.startswith("missing ), unterminated subpattern"):
        return _go_error("missing closing )", pattern)
    if msg.startswith("unbalanced parenthesis"):
        return _go_error("unexpected )", pattern)
    if msg.startswith("unterminated character set"):
        return _go_error("missing closing ]", pattern[pos:])
    if msg.startswith("nothing to repeat"):
        end = pos + 1
        if pattern[pos : pos + 1] == "{":
            end = pattern.find("}", pos) + 1
        elif pattern[end : end + 1] == "?":
            end += 1
        return _go_error("missing argument to repetition operator", pattern[pos:end])
    if msg.startswith("multiple repeat"):
        return _go_error("invalid nested repetition operator", pattern[max(pos - 1, 0) : pos + 1])
    if msg.startswith("bad character range"):
        return _go_error("invalid character class range", msg.split()[-1])
    if msg.startswith("bad escape"):
        return _go_error("invalid escape sequence", pattern[pos : pos + 2])
    return RegexSyntaxError(f"error parsing regexp: {msg}: `{pattern}`")


@functools.lru_cache(maxsize=1024)
def _compile(pattern: str) -> re.Pattern[str] | RegexSyntaxError:
    try:
        translated = _translate(pattern)
    except RegexSyntaxError as err:
        return err
    for match in re.finditer(r"\{(\d+)(?:,(\d*))?\}", translated):
        if any(int(group) > 1000 for group in match.groups() if group):
            return _go_error("invalid repeat count", match.group(0))
    try:
        return re.compile(translated, re.DOTALL)
    except re.error as err:
        return _python_error(pattern, err)


def check_regex(pattern: str) -> None:
    """Raise :class:`RegexSyntaxError` with Go's message if RE2 would reject ``pattern``."""
    result = _compile(pattern)
    if isinstance(result, RegexSyntaxError):
        raise result


def compile_matcher_regex(pattern: str) -> re.Pattern[str]:
    """The Python equivalent of a matcher regex; use ``fullmatch`` (matchers are anchored)."""
    result = _compile(pattern)
    if isinstance(result, RegexSyntaxError):
        raise result
    return result
