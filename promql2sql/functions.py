"""The function registry: every PromQL function by name, its kind, and how it treats names.

The parser's signatures (``signatures.py``) say what a call may look like; this table says
which plan operator implements it. Backends attach their lowerings per name (see
``duckdb/elementwise.py`` and ``duckdb/range_functions.py``); ``tests/unit/promql`` keeps the
three in sync, and lists what is deliberately unsupported (``UNSUPPORTED``) with a reason.
"""

from __future__ import annotations

# Functions of a range vector: one value per series per step (plan.RangeFunction).
RANGE_FUNCTIONS = frozenset(
    {
        "absent_over_time", "avg_over_time", "changes", "count_over_time", "delta", "deriv",
        "double_exponential_smoothing", "first_over_time", "idelta", "increase", "irate",
        "last_over_time", "mad_over_time", "max_over_time", "min_over_time", "predict_linear",
        "present_over_time", "quantile_over_time", "rate", "resets", "stddev_over_time",
        "stdvar_over_time", "sum_over_time", "ts_of_first_over_time", "ts_of_last_over_time",
        "ts_of_max_over_time", "ts_of_min_over_time",
    }
)  # fmt: skip

# Per-sample functions of an instant vector (plan.Elementwise).
ELEMENTWISE = frozenset(
    {
        "abs", "acos", "acosh", "asin", "asinh", "atan", "atanh", "ceil", "clamp", "clamp_max",
        "clamp_min", "cos", "cosh", "deg", "exp", "floor", "ln", "log10", "log2", "rad", "round",
        "sgn", "sin", "sinh", "sqrt", "tan", "tanh", "timestamp", "neg", "start_timestamp",
    }
)  # fmt: skip

# Date functions default to vector(time()) when called without an argument.
DATE_FUNCTIONS = frozenset(
    {"day_of_month", "day_of_week", "day_of_year", "days_in_month", "hour", "minute", "month", "year"}
)

SORT_FUNCTIONS = frozenset({"sort", "sort_desc", "sort_by_label", "sort_by_label_desc"})

# Functions whose result keeps the metric name (Prometheus drops __name__ for all others
# that compute a new value).
KEEPS_NAME = frozenset(
    {"last_over_time", "first_over_time", "sort", "sort_desc", "sort_by_label", "sort_by_label_desc",
     "label_replace", "label_join"}
)  # fmt: skip

OTHER = frozenset(
    {"absent", "label_join", "label_replace", "pi", "scalar", "time", "vector", "start", "end",
     "range", "step", "min_of", "max_of", "histogram_fraction", "histogram_quantile", "histogram_quantiles",
     "info"}
)  # fmt: skip

# Known to the parser, not evaluated yet; each with the reason.
UNSUPPORTED: dict[str, str] = {
    "histogram_avg": "native histograms are not stored yet",
    "histogram_count": "native histograms are not stored yet",
    "histogram_stddev": "native histograms are not stored yet",
    "histogram_stdvar": "native histograms are not stored yet",
    "histogram_sum": "native histograms are not stored yet",
}


def kind_of(name: str) -> str:
    for kind, names in (
        ("range", RANGE_FUNCTIONS),
        ("elementwise", ELEMENTWISE),
        ("date", DATE_FUNCTIONS),
        ("sort", SORT_FUNCTIONS),
        ("other", OTHER),
    ):
        if name in names:
            return kind
    return "unsupported" if name in UNSUPPORTED else "unknown"
