"""The parser's function table matches Prometheus 3.14's."""

from __future__ import annotations

from promlake.promql2sql.signatures import (
    AGGREGATORS,
    EXPERIMENTAL_AGGREGATORS,
    FUNCTIONS,
    PARAM_AGGREGATORS,
    ValueType,
)

S, V, M, STR = ValueType.SCALAR, ValueType.VECTOR, ValueType.MATRIX, ValueType.STRING


def test_function_count_and_experimental_set() -> None:
    assert len(FUNCTIONS) == 90
    assert {name for name, f in FUNCTIONS.items() if f.experimental} == {
        "double_exponential_smoothing", "end", "histogram_quantiles", "info", "mad_over_time", "max_of",
        "min_of", "range", "sort_by_label", "sort_by_label_desc", "start", "start_timestamp", "step",
        "ts_of_first_over_time", "ts_of_last_over_time", "ts_of_max_over_time", "ts_of_min_over_time",
    }  # fmt: skip


def test_selected_signatures() -> None:
    expected = {
        "rate": ((M,), 0, V),
        "histogram_quantile": ((S, V), 0, V),
        "histogram_quantiles": ((V, STR, S, S), 9, V),
        "histogram_fraction": ((S, S, V), 0, V),
        "label_join": ((V, STR, STR, STR), -1, V),
        "label_replace": ((V, STR, STR, STR, STR), 0, V),
        "round": ((V, S), 1, V),
        "hour": ((V,), 1, V),
        "info": ((V, V), 1, V),
        "scalar": ((V,), 0, S),
        "time": ((), 0, S),
        "quantile_over_time": ((S, M), 0, V),
        "double_exponential_smoothing": ((M, S, S), 0, V),
        "predict_linear": ((M, S), 0, V),
    }
    for name, (args, variadic, ret) in expected.items():
        f = FUNCTIONS[name]
        assert (f.arg_types, f.variadic, f.return_type) == (args, variadic, ret), name


def test_argument_bounds() -> None:
    assert (FUNCTIONS["round"].min_args, FUNCTIONS["round"].max_args) == (1, 2)
    assert (FUNCTIONS["label_join"].min_args, FUNCTIONS["label_join"].max_args) == (3, None)
    assert (FUNCTIONS["histogram_quantiles"].min_args, FUNCTIONS["histogram_quantiles"].max_args) == (3, 12)
    assert (FUNCTIONS["abs"].min_args, FUNCTIONS["abs"].max_args) == (1, 1)


def test_aggregators() -> None:
    assert len(AGGREGATORS) == 14
    assert {"topk", "bottomk", "quantile", "count_values", "limitk", "limit_ratio"} == PARAM_AGGREGATORS
    assert EXPERIMENTAL_AGGREGATORS <= PARAM_AGGREGATORS
