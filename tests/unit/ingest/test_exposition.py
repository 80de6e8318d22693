"""The text exposition parser: examples with expfmt's messages, and property tests against a
plain reference parser (written here, one regex per line) and prometheus_client's parser."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from promlake.ingest.exposition import GO_NAN_BITS, ExpositionError, parse

# ---- a simple reference parser (valid input only; raises ValueError with the line) ------

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_LNAME = r"[a-zA-Z_][a-zA-Z0-9_]*"
_VAL = r'"((?:[^"\\]|\\["\\n])*)"'
_FLOAT = r"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|(?i:inf|infinity))|(?i:nan)"


def reference(text: str) -> list[tuple[dict[str, str], float, int | None]]:
    if text and not text.endswith("\n") and text.rsplit("\n", 1)[-1].strip(" \t"):
        raise ValueError(text.count("\n") + 1)
    out = []
    for no, line in enumerate(text.split("\n"), 1):
        line = line.lstrip(" \t")
        if not line or line.startswith("#"):
            continue
        m = re.fullmatch(rf"({_NAME})[ \t]*(?:\{{(.*)\}})?[ \t]*(\S+)(?:[ \t]+(\S+))?", line)
        if not m:
            raise ValueError(no)
        labels = {"__name__": m.group(1)}
        block = (m.group(2) or "").strip(" \t")
        while block:
            p = re.match(rf"({_LNAME})[ \t]*=[ \t]*{_VAL}[ \t]*(,[ \t]*)?", block)
            if not p or p.group(1) in labels:
                raise ValueError(no)
            value = re.sub(r'\\(["\\n])', lambda e: "\n" if e.group(1) == "n" else e.group(1), p.group(2))
            labels[p.group(1)] = value
            rest = block[p.end() :]
            if rest and not p.group(3):
                raise ValueError(no)
            block = rest
        if not re.fullmatch(_FLOAT, m.group(3)) or (
            math.isinf(float(m.group(3))) and "i" not in m.group(3).lower()
        ):
            raise ValueError(no)
        ts = m.group(4)
        if ts is not None and not re.fullmatch(r"[+-]?[0-9]+", ts):
            raise ValueError(no)
        if ts is not None and not -(2**63) <= int(ts) < 2**63:
            raise ValueError(no)  # Go parses timestamps as int64
        out.append((labels, float(m.group(3)), int(ts) if ts is not None else None))
    return out


def mine(text: str) -> list[tuple[dict[str, str], float, int | None]]:
    e = parse(text.encode())
    ts = [int(t) if h else None for t, h in zip(e.timestamps.tolist(), e.has_timestamp.tolist(), strict=True)]
    dicts = [dict(sorted(d.items())) for d in e.series.to_dicts()]
    return list(zip(dicts, e.values.tolist(), ts, strict=True))


def same(a: list, b: list) -> bool:
    if len(a) != len(b):
        return False
    for (la, va, ta), (lb, vb, tb) in zip(a, b, strict=True):
        la = {k: v for k, v in la.items() if v != ""}
        lb = {k: v for k, v in lb.items() if v != ""}
        if la != lb or ta != tb or not (va == vb or (math.isnan(va) and math.isnan(vb))):
            return False
    return True


# ---- generated expositions ---------------------------------------------------------------

names = st.from_regex(r"\A[a-zA-Z_:][a-zA-Z0-9_:]{0,8}\Z")
label_names = st.from_regex(r"\A[a-zA-Z][a-zA-Z0-9_]{0,6}\Z")
label_values = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=8)
blanks = st.sampled_from(["", " ", "\t", "  "])
values = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.integers(-(10**6), 10**6).map(str),
    st.sampled_from(["NaN", "nan", "+Inf", "-Inf", "inf", "Infinity", ".5", "5.", "1e-400", "+3E2", "00012"]),
)


def escape(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


@st.composite
def sample_line(draw: st.DrawFn, with_ts: bool = False) -> str:
    name = draw(names)
    lnames = draw(st.lists(label_names, max_size=4, unique=True))
    pairs = [
        f'{draw(blanks)}{n}{draw(blanks)}={draw(blanks)}"{escape(draw(label_values))}"{draw(blanks)}'
        for n in lnames
    ]
    block = ""
    braces: bool = bool(pairs) or draw(st.booleans())
    trailing: bool = bool(pairs) and draw(st.booleans())
    if braces:
        block = draw(blanks) + "{" + ",".join(pairs) + ("," if trailing else "") + "}"
    line = draw(blanks) + name + block + draw(blanks) + (" " if not block else "") + draw(values)
    if with_ts and draw(st.booleans()):
        line += draw(st.sampled_from([" ", "\t"])) + str(draw(st.integers(-(2**63), 2**63 - 1)))
    return line


@st.composite
def exposition(draw: st.DrawFn, with_ts: bool = False) -> str:
    lines = draw(
        st.lists(
            st.one_of(sample_line(with_ts), st.sampled_from(["", "# a comment", "  ", "#"])), max_size=12
        )
    )
    return "".join(line + "\n" for line in lines)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(exposition(with_ts=True))
def test_valid_expositions_match_the_reference(text: str) -> None:
    assert same(mine(text), reference(text))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(exposition(with_ts=True), st.data())
def test_mutations_fail_like_the_reference(text: str, data: st.DataObject) -> None:
    """Any mutation either parses like the reference or fails on the same line, and never
    fails any other way than ExpositionError."""
    if text:
        pos = data.draw(st.integers(0, len(text) - 1))
        insert = data.draw(
            st.sampled_from(['"', "\\", "{", "}", ",", "=", " ", "\n", "x", "1", "#", "\t", "q", "é"])
        )
        text = text[:pos] + insert + text[pos + data.draw(st.integers(0, 1)) :]
    try:
        want = reference(text)
    except ValueError as exc:
        want_line = exc.args[0]
        # The reference knows no HELP/TYPE rules; those lines are comments to it.
        with pytest.raises(ExpositionError) as got:
            mine(text)
        assert got.value.line <= want_line
        return
    try:
        got_samples = mine(text)
    except ExpositionError:
        # Only metadata rules (duplicate TYPE/HELP, bad type) may refuse what the reference takes.
        assert re.search(r"^[ \t]*#[ \t]*(HELP|TYPE)", text, re.M)
        return
    assert same(got_samples, want)


prometheus_client_parser = pytest.importorskip("prometheus_client.parser")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(exposition())
def test_against_prometheus_client(text: str) -> None:
    ours = mine(text)
    theirs = [
        (dict(s.labels, __name__=s.name), s.value, s.timestamp)
        for fam in prometheus_client_parser.text_string_to_metric_families(text)
        for s in fam.samples
    ]
    assert same(ours, theirs)


# ---- examples with expfmt's (Pushgateway's) messages, checked against Pushgateway 1.5.1 --


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"a{ 1\n", 'line 1: invalid label name for metric "a"'),
        (b"a 1", "line 1: unexpected end of input stream"),
        (b"a 1\n# c", "line 2: unexpected end of input stream"),
        (b"a x\n", 'line 1: expected float as value, got "x"'),
        (b"x 1e400\n", 'line 1: expected float as value, got "1e400"'),
        (b"x +nan\n", 'line 1: expected float as value, got "+nan"'),
        (b"x 0x10\n", 'line 1: expected float as value, got "0x10"'),
        (b"x 1\r\n", 'line 1: expected float as value, got "1\\r"'),
        (b"x 1 2 3\n", 'line 1: spurious string after timestamp: " 3"'),
        (b"x 1 1.5\n", 'line 1: expected integer as timestamp, got "1.5"'),
        (b"x 1 \n", 'line 1: expected integer as timestamp, got ""'),
        (b"x 1 99999999999999999999\n", 'line 1: expected integer as timestamp, got "99999999999999999999"'),
        (b'x{a="b"c="d"} 1\n', 'line 1: unexpected end of label value "b"'),
        (b"x{,} 1\n", 'line 1: invalid label name for metric "x"'),
        (b'x{a="1",a="2"} 1\n', 'line 1: duplicate label names for metric "x"'),
        (b'x{a="\\q"} 1\n', "line 1: invalid escape sequence '\\q'"),
        (b'x{__name__="y"} 1\n', 'line 1: label name "__name__" is reserved'),
        (b"x{a=1} 1\n", "line 1: expected '\"' at start of label value, found '1'"),
        (b'x{a b="1"} 1\n', "line 1: expected '=' after label name, found 'b'"),
        (b'x{a="b\n', 'line 1: label value "b" contains unescaped new-line'),
        (b"1x 1\n", "line 1: invalid metric name"),
        (b'{a="b"} 1\n', "line 1: invalid metric name"),
        (b"x-y 1\n", 'line 1: expected float as value, got "-y"'),
        (
            b"# TYPE a counter\n# TYPE a gauge\na 1\n",
            'line 2: second TYPE line for metric name "a", or TYPE reported after samples',
        ),
        (
            b"a 1\n# TYPE a gauge\n",
            'line 2: second TYPE line for metric name "a", or TYPE reported after samples',
        ),
        (b"# HELP a x\n# HELP a y\na 1\n", 'line 2: second HELP line for metric name "a"'),
        (b"# HELP x a\\\\b\\nc \\q\nx 1\n", "line 1: invalid escape sequence '\\q'"),
        (b"# TYPE x gauge extra\nx 1\n", 'line 1: unknown metric type "gauge extra"'),
        (b"# TYPE x gauge \nx 1\n", 'line 1: unknown metric type "gauge "'),
        (b"# HELP 1x\n", "line 1: invalid metric name in comment"),
        (
            b'# TYPE s summary\ns{quantile="x"} 1\n',
            "line 2: expected float as value for 'quantile' label, got \"x\"",
        ),
        (
            b'# TYPE h histogram\nh_bucket{le="a"} 1\n',
            "line 2: expected float as value for 'le' label, got \"a\"",
        ),
        (
            b"# TYPE h summary\nh_count 1\n# TYPE h_count gauge\n",
            'line 3: second TYPE line for metric name "h", or TYPE reported after samples',
        ),
        (b'ok 1\nx{a="\xff"} 1\n', "line 2: invalid UTF-8 in the exposition"),
    ],
)
def test_expfmt_messages(body: bytes, message: str) -> None:
    with pytest.raises(ExpositionError) as exc:
        parse(body)
    assert str(exc.value) == "text format parsing error in " + message


@pytest.mark.parametrize(
    "body",
    [b"", b"\n\n", b"a 1\n  ", b"# TYPE x\nx 1\n", b"# HELP\n", b"#\n", b"#TYPE x gauge\nx 1\n", b"a\t1\n",
     b'a{x="1",} 1\n', b"a{} 1\n", b'x{ a = "b" , } 1\n', b'x {a="b"} 1\n', b'x{a="b"}1\n', b"x: 1\n",
     b"x 1e-400\n", b"x Infinity\n", b"x .5\n", b"x 5.\n", b"x 00012\n"],
)  # fmt: skip
def test_accepted_like_expfmt(body: bytes) -> None:
    parse(body)


def test_columns_and_metadata() -> None:
    body = (
        b"# HELP h doc \\\\ with\\nnewline\n# TYPE h histogram\n"
        b'h_bucket{le="1",a="q\\\\n\\"\\n"} 1\nh_bucket{le="+Inf",a="q"} 2\nh_sum 2\nh_count 3\n'
        b'# TYPE c counter\nc_total 4 17\nfoo{ b="2" , } NaN\n'
    )
    e = parse(body)
    assert e.series.to_dicts() == [
        {"__name__": "h_bucket", "le": "1", "a": 'q\\n"\n'},
        {"__name__": "h_bucket", "le": "+Inf", "a": "q"},
        {"__name__": "h_sum"},
        {"__name__": "h_count"},
        {"__name__": "c_total"},
        {"__name__": "foo", "b": "2"},
    ]
    assert e.family.to_pylist() == ["h", "h", "h", "h", "c_total", "foo"]
    assert e.families["h"].type == "histogram" and e.families["h"].help == "doc \\ with\nnewline"
    assert e.families["c"].type == "counter"  # TYPE without samples of its own name
    assert e.has_timestamp.tolist() == [False] * 4 + [True, False]
    assert int(e.timestamps[4]) == 17
    assert e.line.tolist() == [3, 4, 5, 6, 8, 9]
    assert int(e.values[5:6].view(np.uint64)[0]) == GO_NAN_BITS
