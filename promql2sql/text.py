"""Human and JSON renderings of a QueryResult (the CLI's output; the HTTP API has its own encoder)."""

from __future__ import annotations

from typing import Any

from .gostr import format_float_f, format_float_g
from .result import QueryResult
from .signatures import ValueType


def _labels_text(labels: list[tuple[str, str]]) -> str:
    name = next((v for k, v in labels if k == "__name__"), "")
    rest = ", ".join(f'{k}="{v}"' for k, v in labels if k != "__name__")
    return f"{name}{{{rest}}}" if rest or not name else name


def result_lines(res: QueryResult) -> list[str]:
    """promtool-like lines: ``metric{labels} => value @[t]`` (several values for a matrix)."""
    if res.type is ValueType.SCALAR:
        return [f"scalar: {format_float_g(v)} @[{t / 1000}]" for t, v in zip(res.points.column("t").to_pylist(), res.points.column("v").to_pylist(), strict=True)]
    if res.type is ValueType.STRING:
        return [f"string: {res.string}"]
    names = {row["series"]: _labels_text(row["labels"]) for row in res.series.to_pylist()}
    out: dict[int, list[str]] = {}
    for row in res.points.to_pylist():
        out.setdefault(row["series"], []).append(f"{format_float_g(row['v'])} @[{row['t'] / 1000}]")
    return [f"{names[s]} => {chr(10).join(vals) if res.type is ValueType.VECTOR else ' '.join(vals)}" for s, vals in out.items()]


def result_json(res: QueryResult) -> dict[str, Any]:
    """The ``data`` object of Prometheus's API for this result (small results; CLI use)."""
    if res.type is ValueType.SCALAR:
        row = res.points.to_pylist()[-1]
        return {"resultType": "scalar", "result": [row["t"] / 1000, format_float_f(row["v"])]}
    if res.type is ValueType.STRING:
        return {"resultType": "string", "result": [res.points.column("t")[0].as_py() / 1000, res.string]}
    labels = {row["series"]: dict(row["labels"]) for row in res.series.to_pylist()}
    series: dict[int, list[list[Any]]] = {}
    for row in res.points.to_pylist():
        series.setdefault(row["series"], []).append([row["t"] / 1000, format_float_f(row["v"])])
    if res.type is ValueType.VECTOR:
        return {"resultType": "vector", "result": [{"metric": labels[s], "value": pts[0]} for s, pts in series.items()]}
    return {"resultType": "matrix", "result": [{"metric": labels[s], "values": pts} for s, pts in series.items()]}
