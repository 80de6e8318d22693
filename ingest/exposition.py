"""The Prometheus text exposition format 0.0.4, parsed into columns (vectorized).

What Pushgateway clients push and what scraped targets serve. The grammar and the error
texts are those of ``prometheus/common``'s ``expfmt.TextParser`` (the parser behind the
Pushgateway; legacy metric and label names): ``text format parsing error in line N: ...``.

Valid input never takes a Python step per line: the body is split into an Arrow string
array, each sample line is matched by one strict regular expression (``extract_regex``),
label blocks are rewritten into ``name\\nvalue\\n`` runs and split, escapes are undone with
string kernels, values are cast by Arrow after a Go ``ParseFloat`` syntax check. Only when
one of those vectorized checks flags a line does ``_diagnose`` (a line-by-line port of the
Go state machine) run, to report the first error with upstream's wording. Partial input is
never returned: a body is parsed entirely or raises ``ExpositionError``.

Families: a ``# TYPE`` line names a family; a histogram's ``_bucket``/``_sum``/``_count``
samples and a summary's ``_sum``/``_count`` samples belong to it (as ``expfmt`` groups them).
Every other sample is its own family, ``untyped`` unless typed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from promlake.engine import SeriesBatch

METRIC_NAME_RE = "[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL_NAME_RE = "[a-zA-Z_][a-zA-Z0-9_]*"
# Go's strconv.ParseFloat syntax as expfmt uses it (no hex floats, no underscores: expfmt's
# parseFloat refuses 'p', 'P' and '_'); overflow (1e400) is refused separately.
FLOAT_RE = r"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[iI][nN][fF](?:[iI][nN][iI][tT][yY])?)|[nN][aA][nN]"
_FLOAT_FULL = re.compile(f"(?:{FLOAT_RE})\\Z")
_INT_RE = r"[+-]?[0-9]+"
_LABEL_VALUE_RAW = r'(?:[^"\\]|\\["\\n])*'
_LABEL_PAIR = f'[ \\t]*{LABEL_NAME_RE}[ \\t]*=[ \\t]*"{_LABEL_VALUE_RAW}"[ \\t]*'
_LABEL_BLOCK = f"[ \\t]*(?:{_LABEL_PAIR}(?:,{_LABEL_PAIR})*(?:,[ \\t]*)?)?"
# A well-formed sample line (leading blanks already removed).
SAMPLE_LINE_RE = (
    f"^(?P<name>{METRIC_NAME_RE})"
    f"(?:[ \\t]*\\{{(?P<labels>{_LABEL_BLOCK})\\}})?"
    f"[ \\t]*(?P<value>[^ \\t]+)"
    f"(?:[ \\t]+(?P<ts>[^ \\t]+))?$"
)
# Rewrites every name="value" pair of a label block into "name\nvalue\n" (a raw line holds
# no newline, so it is a safe separator).
_PAIR_REWRITE = f'[ \\t]*({LABEL_NAME_RE})[ \\t]*=[ \\t]*"({_LABEL_VALUE_RAW})"[ \\t]*,?'
# "# HELP name text" / "# TYPE name type" whose name is directly followed by a blank.
COMMENT_RE = f"^#[ \\t]*(?P<kw>HELP|TYPE)[ \\t]+(?P<name>{METRIC_NAME_RE})[ \\t]+(?P<rest>[^ \\t].*)$"

TYPES = ("counter", "gauge", "summary", "untyped", "histogram")
GO_NAN_BITS = 0x7FF8000000000001  # math.NaN() in Go: what Prometheus stores for "NaN"


class ExpositionError(ValueError):
    """Malformed exposition text; ``str()`` is expfmt's message."""

    def __init__(self, line: int, msg: str) -> None:
        super().__init__(f"text format parsing error in line {line}: {msg}")
        self.line = line
        self.msg = msg


@dataclass(frozen=True)
class Family:
    name: str
    type: str  # counter, gauge, summary, untyped, histogram
    help: str | None  # None: no HELP line


@dataclass(frozen=True)
class Exposition:
    """One parsed body: sample i is series i of ``series`` (labels include ``__name__``)."""

    series: SeriesBatch
    metric: pa.Array  # metric name per sample
    family: pa.Array  # family name per sample
    values: np.ndarray  # float64
    timestamps: np.ndarray  # int64 ms; meaningful where has_timestamp
    has_timestamp: np.ndarray  # bool
    line: np.ndarray  # 1-based line number per sample
    families: dict[str, Family] = field(default_factory=dict)  # every family with samples or metadata

    @property
    def n_samples(self) -> int:
        return len(self.values)


def parse(body: bytes | str) -> Exposition:
    """Parse a text 0.0.4 body; raises ``ExpositionError`` on the first malformed line."""
    if isinstance(body, bytes):
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = body.count(b"\n", 0, exc.start) + 1
            raise ExpositionError(line, "invalid UTF-8 in the exposition") from None
    else:
        text = body
    raw = text.split("\n")  # one C-level split; the last element follows the last newline
    lines = pa.array(raw, type=pa.string())
    n_lines = len(raw)
    lineno = np.arange(1, n_lines + 1, dtype=np.int64)
    content = pc.utf8_ltrim(lines, characters=" \t")
    is_blank = pc.equal(pc.utf8_length(content), 0).to_numpy(zero_copy_only=False)
    first = pc.utf8_slice_codeunits(content, 0, 1)
    is_comment = pc.equal(first, "#").to_numpy(zero_copy_only=False)
    # The text after the last "\n": fine if blank, else the stream ended inside a line.
    incomplete_last = not is_blank[-1]
    flagged: list[int] = [n_lines] if incomplete_last else []

    # ---- comments: HELP and TYPE lines (a handful per body: plain Python over them) ----
    c_idx = np.flatnonzero(is_comment)
    meta = pc.extract_regex(content.take(pa.array(c_idx)), COMMENT_RE)
    meta_rows = [
        (int(lineno[i]), m["kw"], m["name"], m["rest"])
        for i, m in zip(c_idx.tolist(), meta.to_pylist(), strict=True)
        if m is not None
    ]
    # A comment that is not HELP/TYPE-with-name-and-text is ignored by expfmt unless its name
    # is malformed ("# TYPE 1x gauge"): those are flagged for the diagnosis.
    bad_comment = pc.match_substring_regex(
        content.take(pa.array(c_idx)),
        f"^#[ \\t]*(?:HELP|TYPE)[ \\t]+(?:[0-9]|(?:{METRIC_NAME_RE})?[^a-zA-Z0-9_: \\t])",
    ).to_numpy(zero_copy_only=False)
    flagged.extend(int(lineno[i]) for i in c_idx[bad_comment])

    # ---- samples ----
    s_idx = np.flatnonzero(~is_blank & ~is_comment)
    if incomplete_last:
        s_idx = s_idx[s_idx != n_lines - 1]
    s_lines = content.take(pa.array(s_idx, type=pa.int64()))
    parts = pc.extract_regex(s_lines, SAMPLE_LINE_RE)
    ok = parts.is_valid().to_numpy(zero_copy_only=False)
    if not ok.all():
        flagged.append(int(lineno[s_idx[~ok][0]]))
        s_idx, parts = s_idx[ok], parts.filter(pa.array(ok))
    s_line = lineno[s_idx]
    metric = parts.field("name")
    value_tok = parts.field("value")
    ts_tok = parts.field("ts")

    good_value = pc.match_substring_regex(value_tok, f"^(?:{FLOAT_RE})$").to_numpy(zero_copy_only=False)
    values = np.zeros(len(s_idx), dtype=np.float64)
    if good_value.all():
        values = pc.cast(value_tok, pa.float64()).to_numpy(zero_copy_only=False).copy()
        overflow = np.isinf(values) & ~pc.match_substring_regex(value_tok, "[iI]").to_numpy(
            zero_copy_only=False
        )
        if overflow.any():
            flagged.append(int(s_line[overflow][0]))
        values[np.isnan(values)] = np.uint64(GO_NAN_BITS).view(np.float64)
    else:
        flagged.append(int(s_line[~good_value][0]))
    has_ts = pc.not_equal(ts_tok, "").to_numpy(zero_copy_only=False)
    timestamps = np.zeros(len(s_idx), dtype=np.int64)
    if has_ts.any():
        tsv = ts_tok.filter(pa.array(has_ts))
        good_ts = pc.match_substring_regex(tsv, f"^{_INT_RE}$").to_numpy(zero_copy_only=False)
        try:
            if not good_ts.all():
                raise pa.ArrowInvalid("bad timestamp")
            timestamps[has_ts] = pc.cast(tsv, pa.int64()).to_numpy(zero_copy_only=False)
        except (pa.ArrowInvalid, OverflowError):
            flagged.append(int(s_line[has_ts][0]) if good_ts.all() else int(s_line[has_ts][~good_ts][0]))

    # Labels: rewrite each block to "n\nv\n...", split, and undo the escapes.
    block = pc.utf8_rtrim(
        pc.replace_substring_regex(parts.field("labels"), _PAIR_REWRITE, "\\1\n\\2\n"), characters=" \t"
    )
    split = pc.split_pattern(block, "\n")
    offsets = split.offsets.to_numpy()
    flat = split.flatten()
    parent = np.repeat(np.arange(len(split), dtype=np.int64), np.diff(offsets))
    rel = np.arange(len(flat), dtype=np.int64) - offsets[:-1][parent]
    last = rel == (np.diff(offsets)[parent] - 1)
    keep_name = ~last & (rel % 2 == 0)
    keep_value = ~last & (rel % 2 == 1)
    l_series = parent[keep_name]
    l_names = flat.filter(pa.array(keep_name))
    l_values = _unescape(flat.filter(pa.array(keep_value)))
    reserved = pc.equal(l_names, "__name__").to_numpy(zero_copy_only=False)
    if reserved.any():
        flagged.append(int(s_line[l_series[reserved][0]]))
    if len(l_series):
        dup = _duplicate_rows(l_series, l_names)
        if dup.any():
            flagged.append(int(s_line[l_series[dup][0]]))

    # ---- families and metadata ----
    families, sample_family, family_errors = _families(meta_rows, metric, s_line)
    flagged.extend(family_errors)
    # le / quantile of typed histograms / summaries must be floats.
    if len(l_series):
        ftype = pc.take(
            pa.array([families[f].type for f in sample_family.dictionary_encode().dictionary.to_pylist()]),
            sample_family.dictionary_encode().indices,
        ).to_numpy(zero_copy_only=False)[l_series]
        special = (pc.equal(l_names, "le").to_numpy(zero_copy_only=False) & (ftype == "histogram")) | (
            pc.equal(l_names, "quantile").to_numpy(zero_copy_only=False) & (ftype == "summary")
        )
        if special.any():
            sv = l_values.filter(pa.array(special))
            bad = ~pc.match_substring_regex(sv, f"^(?:{FLOAT_RE})$").to_numpy(zero_copy_only=False)
            if bad.any():
                flagged.append(int(s_line[l_series[special][bad][0]]))

    if flagged:
        _diagnose(raw, min(flagged))

    n = len(s_idx)
    idx = np.concatenate([np.arange(n, dtype=np.int32), l_series.astype(np.int32)])
    names = pa.concat_arrays([pa.array(["__name__"] * n, pa.string()), _plain(l_names)])
    vals = pa.concat_arrays([_plain(metric), _plain(l_values)])
    series = SeriesBatch.from_arrow(idx, names, vals, n)
    return Exposition(
        series=series,
        metric=_plain(metric),
        family=sample_family,
        values=values,
        timestamps=timestamps,
        has_timestamp=has_ts,
        line=s_line,
        families=families,
    )


def _plain(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return arr.cast(pa.string())


def _unescape(raw: pa.Array) -> pa.Array:
    """Undo ``\\\\``, ``\\"`` and ``\\n`` of label values (already validated), vectorized."""
    if not len(raw) or not pc.any(pc.match_substring(raw, "\\")).as_py():
        return raw
    # Split at escaped backslashes (left to right, as the escapes tokenize), fix the other
    # two escapes inside each piece, and join the pieces with a plain backslash.
    pieces = pc.split_pattern(raw, "\\\\")
    flat = pieces.flatten()
    flat = pc.replace_substring(pc.replace_substring(flat, '\\"', '"'), "\\n", "\n")
    rebuilt = pa.ListArray.from_arrays(pieces.offsets, flat)
    return pc.binary_join(rebuilt, "\\")


def _duplicate_rows(series: np.ndarray, names: pa.Array) -> np.ndarray:
    """Rows whose label name already appeared in the same series (vectorized)."""
    codes = pc.dictionary_encode(names).indices.to_numpy(zero_copy_only=False).astype(np.int64)
    key = series.astype(np.int64) * (int(codes.max()) + 1) + codes
    _, first = np.unique(key, return_index=True)
    dup = np.ones(len(key), dtype=bool)
    dup[first] = False
    return dup


def _strip_suffix(name: str, histogram: bool) -> str:
    for suffix in ("_count", "_sum", *(("_bucket",) if histogram else ())):
        if len(name) > len(suffix) and name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _families(
    meta_rows: list[tuple[int, str, str, str]], metric: pa.Array, s_line: np.ndarray
) -> tuple[dict[str, Family], pa.Array, list[int]]:
    """Family of every sample, metadata per family, and lines with metadata errors.

    Loops run over distinct metric names and metadata lines (a few per family), not samples.
    """
    errors: list[int] = []
    typed: dict[str, tuple[str, int]] = {}  # family -> (type, line)
    helps: dict[str, str] = {}
    help_line: dict[str, int] = {}
    for line, kw, comment_name, rest in meta_rows:
        name = comment_name
        if name not in typed and name not in help_line:  # _sum of a typed summary, ...
            for histogram, want in ((False, "summary"), (True, "histogram")):
                base = _strip_suffix(name, histogram)
                if base != name and typed.get(base, ("",))[0] == want:
                    name = base
                    break
        if kw == "TYPE":
            if name in typed or rest.lower() not in TYPES:
                errors.append(line)
                continue
            typed[name] = (rest.lower(), line)
        else:
            if name in help_line or not _help_ok(rest):
                errors.append(line)
                continue
            helps[name] = _unescape_help(rest)
            help_line[name] = line
    # Resolve each distinct metric name as expfmt's setOrCreateCurrentMF does: an exact
    # family declared before the name's first sample wins, then a summary owning _sum/_count,
    # then a histogram owning _bucket/_sum/_count (its TYPE line before the first sample).
    enc = pc.dictionary_encode(metric)
    uniq = enc.dictionary.to_pylist()
    codes = enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    first_line = np.full(len(uniq), np.iinfo(np.int64).max, dtype=np.int64)
    if len(codes):
        np.minimum.at(first_line, codes, s_line)
    resolved: list[str] = []
    for code, name in enumerate(uniq):
        first = int(first_line[code])
        fam = name
        declared = min(typed.get(name, (None, first))[1], help_line.get(name, first))
        if declared >= first:
            for histogram, want in ((False, "summary"), (True, "histogram")):
                base = _strip_suffix(name, histogram)
                t = typed.get(base)
                if base != name and t is not None and t[0] == want and t[1] < first:
                    fam = base
                    break
        resolved.append(fam)
    # TYPE after the family's first sample: "second TYPE line ..., or TYPE reported after samples".
    fam_first: dict[str, int] = {}
    for code, fam in enumerate(resolved):
        if first_line[code] < fam_first.get(fam, np.iinfo(np.int64).max):
            fam_first[fam] = int(first_line[code])
    for fam, (_t, line) in typed.items():
        if fam in fam_first and fam_first[fam] < line:
            errors.append(line)
    families: dict[str, Family] = {}
    for fam in {*resolved, *typed, *helps}:
        families[fam] = Family(fam, typed.get(fam, ("untyped", 0))[0], helps.get(fam))
    sample_family = pa.array(resolved, pa.string()).take(pa.array(codes, pa.int64()))
    return families, sample_family, errors


_HELP_OK = re.compile(r"(?:[^\\]|\\[\\n])*\Z", re.S)


def _help_ok(text: str) -> bool:
    return _HELP_OK.match(text) is not None


def _unescape_help(text: str) -> str:
    return re.sub(r"\\([\\n])", lambda m: "\n" if m.group(1) == "n" else "\\", text)


# --------------------------------------------------------------------------------------
# The error path: a line-by-line port of expfmt's TextParser, run only on flagged input.


class _EOF(Exception):
    pass


def _diagnose(raw: list[str], flagged_line: int) -> None:
    """Raise the first error of the body with expfmt's wording (never returns)."""
    state = _DiagState()
    for i, line in enumerate(raw):
        complete = i < len(raw) - 1
        try:
            state.line(i + 1, line, complete)
        except _EOF:
            raise ExpositionError(i + 1, "unexpected end of input stream") from None
    raise ExpositionError(flagged_line, "invalid line")  # the vectorized checks disagree


class _DiagState:
    def __init__(self) -> None:
        self.types: dict[str, str | None] = {}  # family -> type (None: declared by HELP only)
        self.helps: set[str] = set()

    def _family(self, name: str) -> str:
        if name in self.types:
            return name
        for histogram, want in ((False, "summary"), (True, "histogram")):
            base = _strip_suffix(name, histogram)
            if base != name and self.types.get(base) == want:
                return base
        self.types[name] = None
        return name

    def line(self, no: int, text: str, complete: bool) -> None:
        s = text + "\n" if complete else text
        pos = 0

        def cur() -> str:
            if pos >= len(s):
                raise _EOF
            return s[pos]

        def err(msg: str) -> None:
            raise ExpositionError(no, msg)

        def skip_blank() -> None:
            nonlocal pos
            while cur() in " \t":
                pos += 1

        def token_until_ws() -> str:
            nonlocal pos
            start = pos
            while cur() not in " \t\n":
                pos += 1
            return s[start:pos]

        def name_token(metric: bool) -> str:
            nonlocal pos
            m = re.compile(METRIC_NAME_RE if metric else LABEL_NAME_RE).match(s, pos)
            if m is None:
                return ""
            pos = m.end()
            cur()
            return m.group(0)

        if pos >= len(s):
            return  # blank remainder at the end of the stream
        while pos < len(s) and s[pos] in " \t":
            pos += 1
        if pos >= len(s):
            return
        c = s[pos]
        if c == "\n":
            return
        if c == "#":
            pos += 1
            skip_blank()
            if cur() == "\n":
                return
            kw = token_until_ws()
            if cur() == "\n":
                return
            if kw not in ("HELP", "TYPE"):
                while cur() != "\n":
                    pos += 1
                return
            skip_blank()
            name = name_token(True)
            if cur() == "\n":
                return
            if cur() not in " \t":
                err("invalid metric name in comment")
            fam = self._family(name)
            skip_blank()
            if cur() == "\n":
                return
            start = pos
            while cur() != "\n":
                pos += 1
            rest = s[start:pos]
            if kw == "HELP":
                if fam in self.helps:
                    err(f'second HELP line for metric name "{fam}"')
                if not _help_ok(rest):
                    bad = re.match(r"(?:[^\\]|\\[\\n])*\\(.?)", rest, re.S)
                    err(f"invalid escape sequence '\\{(bad.group(1) if bad else '') or chr(10)}'")
                self.helps.add(fam)
            else:
                if self.types.get(fam) is not None:
                    err(f'second TYPE line for metric name "{fam}", or TYPE reported after samples')
                if rest.lower() not in TYPES:
                    err(f"unknown metric type {_go_quote(rest)}")
                self.types[fam] = rest.lower()
            return
        name = name_token(True)
        if not name:
            err("invalid metric name")
        fam = self._family(name)
        if self.types.get(fam) is None:
            self.types[fam] = "untyped"
        ftype = self.types[fam]
        if cur() in " \t":
            skip_blank()
        if cur() == "{":
            pos += 1
            seen: set[str] = set()
            while True:
                skip_blank()
                if cur() == "}":
                    pos += 1
                    break
                lname = name_token(False)
                if not lname:
                    err(f'invalid label name for metric "{fam}"')
                if cur() in " \t":
                    skip_blank()
                if cur() != "=":
                    err(f"expected '=' after label name, found {_go_quote_byte(cur())}")
                pos += 1
                if lname == "__name__":
                    err('label name "__name__" is reserved')
                special = (ftype == "summary" and lname == "quantile") or (
                    ftype == "histogram" and lname == "le"
                )
                # Stricter than expfmt, which lets a second le/quantile overwrite the first.
                if lname in seen:
                    err(f'duplicate label names for metric "{fam}"')
                seen.add(lname)
                skip_blank()
                if cur() != '"':
                    err(f"expected '\"' at start of label value, found {_go_quote_byte(cur())}")
                pos += 1
                out: list[str] = []
                while True:
                    ch = cur()
                    pos += 1
                    if ch == "\\":
                        e = cur()
                        pos += 1
                        if e not in '"\\n':
                            err(f"invalid escape sequence '\\{e}'")
                        out.append("\n" if e == "n" else e)
                    elif ch == '"':
                        break
                    elif ch == "\n":
                        err(f"label value {_go_quote(''.join(out))} contains unescaped new-line")
                    else:
                        out.append(ch)
                lvalue = "".join(out)
                if special and (not _FLOAT_FULL.match(lvalue) or _overflows(lvalue)):
                    err(f"expected float as value for '{lname}' label, got {_go_quote(lvalue)}")
                skip_blank()
                if cur() == ",":
                    pos += 1
                    continue
                if cur() == "}":
                    pos += 1
                    break
                err(f"unexpected end of label value {_go_quote(lvalue)}")
            skip_blank()
        value = token_until_ws()
        if not _FLOAT_FULL.match(value) or _overflows(value):
            err(f"expected float as value, got {_go_quote(value)}")
        if cur() == "\n":
            return
        skip_blank()
        ts = token_until_ws()
        if not re.fullmatch(_INT_RE, ts) or not -(2**63) <= int(ts) < 2**63:
            err(f"expected integer as timestamp, got {_go_quote(ts)}")
        start = pos
        while cur() != "\n":
            pos += 1
        if pos > start:
            err(f"spurious string after timestamp: {_go_quote(s[start:pos])}")


def _overflows(tok: str) -> bool:
    try:
        return np.isinf(float(tok)) and "i" not in tok.lower()
    except ValueError:
        return True


def _go_quote(s: str) -> str:
    """Go's %q for the strings that occur in these messages."""
    out = ['"']
    for ch in s:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _go_quote_byte(ch: str) -> str:
    """Go's %q of a byte (a rune literal)."""
    if ch == "'":
        return "'\\''"
    if ch == "\n":
        return "'\\n'"
    if ch == "\t":
        return "'\\t'"
    if ord(ch) < 0x20:
        return f"'\\x{ord(ch):02x}'"
    return f"'{ch}'"
