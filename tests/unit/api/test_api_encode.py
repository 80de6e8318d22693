"""Number, timestamp and string spelling of the JSON answers, against Go's rules."""

from __future__ import annotations

import json
import math

import numpy as np
import pyarrow as pa
import pytest

from promlake.api import encode

# (value, text) pairs, not a dict: -0.0 and 0.0 are one dict key.
# Outputs of Prometheus 2.42 (Go's strconv) for `vector(<v>)` and the scalar `<v>`, recorded
# from the Debian binary: vectors switch to 'e' outside [1e-6, 1e21); scalars never do.
GO_VECTOR = [
    (0.1, "0.1"),
    (100.0, "100"),
    (1e21, "1e+21"),
    (1e20, "100000000000000000000"),
    (1e-7, "1e-07"),
    (1e-6, "0.000001"),
    (9.99e-7, "9.99e-07"),
    (2.5e-5, "0.000025"),
    (5e-324, "5e-324"),
    (1.5e300, "1.5e+300"),
    (-0.0, "-0"),
    (0.0, "0"),
    (123456789012345678.0, "123456789012345680"),
    (9007199254740993.0, "9007199254740992"),
    (1234567890123456.7, "1234567890123456.8"),
    (2.2250738585072014e-308, "2.2250738585072014e-308"),
    (1.7976931348623157e308, "1.7976931348623157e+308"),
    (-1e-7, "-1e-07"),
    (-123.456, "-123.456"),
    (math.nan, "NaN"),
    (math.inf, "+Inf"),
    (-math.inf, "-Inf"),
]
GO_SCALAR = {1e-7: "0.0000001", 1e21: "1000000000000000000000", 5e-324: "0." + "0" * 323 + "5"}


@pytest.mark.parametrize(("value", "text"), GO_VECTOR)
def test_marshal_float_matches_go(value, text):
    assert encode.marshal_float(value) == text


def test_vectorized_floats_match_go_table():
    values = np.array([v for v, _ in GO_VECTOR])
    assert encode.floats(values).to_pylist() == [t for _, t in GO_VECTOR]


def test_vectorized_floats_equal_the_reference_over_all_magnitudes():
    rng = np.random.default_rng(7)
    n = 40_000
    values = np.concatenate(
        [
            10 ** rng.uniform(-325, 308.2, n) * rng.choice([-1, 1], n),
            rng.integers(-(10**18), 10**18, n).astype(float),
            np.round(rng.random(n) * 1e6) / 1e3,
            [1e15, 1e16, 1e17, 999999999999999.9, 1e21 * (1 - 1e-16), 1e-6 * (1 - 1e-16), 4.9e-324],
        ]
    )
    values = values[np.isfinite(values)]
    got = encode.floats(values).to_pylist()
    assert got == [encode.marshal_float(v) for v in values.tolist()]
    assert [float(g) for g in got] == values.tolist()  # shortest digits still round-trip


def test_scalar_results_use_fixed_notation_always():
    from promlake.promql2sql.gostr import format_float_f

    for value, text in GO_SCALAR.items():
        assert format_float_f(value) == text


@pytest.mark.parametrize(
    ("ms", "text"),
    [(0, "0"), (1, "0.001"), (-1, "-0.001"), (1435781451781, "1435781451.781"), (1435781451050, "1435781451.050"),
     (1435781451500, "1435781451.500"), (-1500, "-1.500"), (4000, "4"), (-4000, "-4")],
)  # fmt: skip
def test_timestamps(ms, text):
    assert encode.marshal_timestamp(ms) == text
    assert encode.timestamps(np.array([ms])).to_pylist() == [text]


def test_timestamps_on_a_grid_and_off_it():
    on = np.array([1500, 16500, 31500])
    assert encode.timestamps_on_grid(on, 1500, 15000).to_pylist() == ["1.500", "16.500", "31.500"]
    off = np.array([1500, 2000])
    assert encode.timestamps_on_grid(off, 1500, 15000).to_pylist() == ["1.500", "2"]


def test_json_number_is_encoding_json():
    assert encode.json_number(4.0) == "4"
    assert encode.json_number(1.5) == "1.5"
    assert encode.json_number(1e-7) == "1e-7"  # encoding/json cleans e-07 to e-7
    assert encode.json_number(1e21) == "1e+21"


def test_strings_are_escaped_like_go():
    texts = ['a"b', "x\\y", "<&>", "n\nl\tt", "\u2028", "ünï", "\x01"]
    got = encode.strings(pa.array(texts)).to_pylist()
    assert got == [encode.json_string(t) for t in texts]
    assert [json.loads(g) for g in got] == texts
    assert got[2] == '"\\u003c\\u0026\\u003e"'


def test_dictionary_strings_are_escaped_once_per_value():
    arr = pa.array(["a", "b<", "a"]).dictionary_encode()
    assert encode.strings(arr).to_pylist() == ['"a"', '"b\\u003c"', '"a"']


def test_label_objects_sort_names_and_allow_empty_sets():
    owner = np.array([1, 1, 0, 1])
    names = pa.array(["b", "a", "z", "__name__"])
    values = pa.array(["2", "1", "0", "up"])
    got = encode.label_objects(owner, names, values, 3).to_pylist()
    assert got == ['{"z":"0"}', '{"__name__":"up","a":"1","b":"2"}', "{}"]


def test_concat_and_join_all_read_the_value_buffer():
    arr = pa.array(["ab", "c", "", "def"], encode.LARGE)
    assert encode.concat(arr) == b"abcdef"
    assert encode.join_all(arr) == b"ab,c,,def"
    assert encode.join_all(arr.slice(1, 2)) == b"c,"
    assert encode.join_all(pa.array([], encode.LARGE)) == b""
