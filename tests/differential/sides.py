"""The two engines under comparison, behind one call shape, and what their answers are compared on.

- Prometheus 2.42 (Debian's ``/usr/bin/prometheus``): blocks built by ``promtool tsdb
  create-blocks-from openmetrics`` and a server on a free loopback port (``benchmarks.prom_side``),
  asked over HTTP ``/api/v1/query`` and ``/api/v1/query_range``.
- promlake: a ``Lake`` in a temporary directory and ``promlake.promql2sql.engine.Engine``,
  called in-process.

Each answer becomes an :class:`Outcome`: the result type, the series as
``{sorted label pairs: (timestamps ms, values)}`` in the answer's order, or an error.
:func:`differences` compares two outcomes the way the PromQL compliance tester does: same
result type, same label sets, same timestamps, values within a relative 1e-6 (NaN equals NaN,
infinities exactly), and for queries whose order PromQL defines the same order.
"""

from __future__ import annotations

import http.client
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import orjson

from benchmarks.query_compare import Canon, Key, compare, from_prometheus, from_promlake
from promlake.promql2sql.engine import Engine
from promlake.promql2sql.errors import PromQLError
from promlake.promql2sql.result import QueryResult

PROM_FLAGS = ("--storage.tsdb.retention.time=10y", "--query.lookback-delta=5m")


@dataclass(frozen=True)
class Outcome:
    kind: str = ""  # vector, matrix, scalar or string; "" for an error
    canon: Canon = field(default_factory=dict)
    order: tuple[Key, ...] = ()  # label sets in the order of the answer
    string: str | None = None
    error: str | None = None
    crashed: bool = False  # promlake raised something other than a PromQL error

    def brief(self) -> str:
        if self.error is not None:
            return ("CRASH " if self.crashed else "error: ") + self.error
        if self.kind == "string":
            return f"string {self.string!r}"
        return (
            f"{self.kind} of {len(self.canon)} series, {sum(len(t) for t, _ in self.canon.values())} points"
        )


def _seconds(ms: int) -> str:
    return f"{ms / 1000:.3f}"


class PrometheusClient:
    """The HTTP query API of one Prometheus on a keep-alive connection."""

    def __init__(self, port: int, timeout: float = 60.0) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)

    def _post(self, path: str, params: dict[str, str]) -> Outcome:
        body = urllib.parse.urlencode(params)
        self.conn.request("POST", path, body, {"Content-Type": "application/x-www-form-urlencoded"})
        resp = self.conn.getresponse()
        raw = resp.read()
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return Outcome(error=f"HTTP {resp.status}: {raw[:300]!r}")
        if doc.get("status") != "success":
            return Outcome(error=f"{doc.get('errorType')}: {doc.get('error')}")
        kind = doc["data"]["resultType"]
        if kind == "string":
            return Outcome(kind=kind, string=str(doc["data"]["result"][1]))
        canon = from_prometheus(raw)
        return Outcome(kind=kind, canon=canon, order=tuple(canon))

    def instant(self, expr: str, t_ms: int) -> Outcome:
        return self._post("/api/v1/query", {"query": expr, "time": _seconds(t_ms)})

    def range(self, expr: str, start_ms: int, end_ms: int, step_ms: int) -> Outcome:
        params = {
            "query": expr,
            "start": _seconds(start_ms),
            "end": _seconds(end_ms),
            "step": _seconds(step_ms),
        }
        return self._post("/api/v1/query_range", params)

    def close(self) -> None:
        self.conn.close()


class PromlakeClient:
    """promlake's PromQL engine over a lake, in-process (the default 5m lookback, as Prometheus)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _outcome(self, run: Callable[[], QueryResult]) -> Outcome:
        try:
            result = run()
        except PromQLError as exc:
            return Outcome(error=f"{type(exc).__name__}: {exc}")
        except Exception as exc:  # a bug, not an answer: reported as such
            return Outcome(error=f"{type(exc).__name__}: {exc}", crashed=True)
        kind = result.type.value
        if kind == "string":
            return Outcome(kind=kind, string=result.string)
        order = tuple(tuple(sorted(labels)) for labels in result.series.column("labels").to_pylist())
        if result.series.num_rows == 0 and result.points.num_rows:
            order = ((),)  # a scalar
        return Outcome(kind=kind, canon=from_promlake(result.series, result.points), order=order)

    def instant(self, expr: str, t_ms: int) -> Outcome:
        return self._outcome(lambda: self.engine.instant(expr, t_ms))

    def range(self, expr: str, start_ms: int, end_ms: int, step_ms: int) -> Outcome:
        return self._outcome(lambda: self.engine.range(expr, start_ms, end_ms, step_ms))


def _fmt(key: Key) -> str:
    return "{" + ", ".join(f"{k}={v!r}" for k, v in key) + "}"


def differences(prom: Outcome, lake: Outcome, *, instant: bool, ordered: bool) -> list[str]:
    """What differs between Prometheus's and promlake's answers; empty when they agree.

    Both failing counts as agreement (the compliance tester's ``should_fail``); the texts of
    the errors are not compared. A range query's answer is always a matrix in Prometheus's API,
    so the result type is compared for instant queries only.
    """
    if lake.crashed:
        return [f"promlake crashed: {lake.error}"]
    if prom.error is not None or lake.error is not None:
        if prom.error is not None and lake.error is not None:
            return []
        return [f"prometheus: {prom.brief()}; promlake: {lake.brief()}"]
    out: list[str] = []
    if instant and prom.kind != lake.kind:
        out.append(f"result type {prom.kind} (prometheus) vs {lake.kind} (promlake)")
    if prom.kind == "string" or lake.kind == "string":
        if prom.string != lake.string:
            out.append(f"string {prom.string!r} (prometheus) vs {lake.string!r} (promlake)")
        return out
    m = compare(prom.canon, lake.canon, max_examples=4)
    if not m.match:
        out.append(f"{m.summary()} [prometheus {prom.brief()}; promlake {lake.brief()}]")
        out += ["  " + e for e in m.examples]
    elif ordered and instant:
        out += _order_differences(prom, lake)
    return out


def _order_differences(prom: Outcome, lake: Outcome) -> list[str]:
    """Same values in the same order (ties may come in either order, so labels are not compared)."""
    vp = np.array([prom.canon[k][1][0] for k in prom.order])
    vl = np.array([lake.canon[k][1][0] for k in lake.order])
    if len(vp) == len(vl) and np.isclose(vp, vl, rtol=1e-6, atol=1e-12, equal_nan=True).all():
        return []
    return [
        "order differs:",
        "  prometheus: " + ", ".join(f"{_fmt(k)}={prom.canon[k][1][0]:g}" for k in prom.order[:8]),
        "  promlake:   " + ", ".join(f"{_fmt(k)}={lake.canon[k][1][0]:g}" for k in lake.order[:8]),
    ]
