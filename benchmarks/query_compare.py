"""The query benchmark's match check: Prometheus's JSON and promlake's Arrow result, sample by sample.

Both results become one canonical form, ``{sorted label pairs: (timestamps ms, values)}``; they
match when they have the same label sets, the same timestamps per series and values within a
relative 1e-6 (``np.isclose(rtol=1e-6, atol=1e-12)``; NaN equals NaN, +Inf equals +Inf). A
mismatch is reported with counts and one example, never hidden.

This is harness code, not a hot path: Python loops here run per series.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import orjson
import pyarrow as pa

Key = tuple[tuple[str, str], ...]
Canon = dict[Key, tuple[np.ndarray, np.ndarray]]
RTOL = 1e-6
ATOL = 1e-12


def from_prometheus(body: bytes) -> Canon:
    """The ``data`` of a ``/api/v1/query_range`` or ``/api/v1/query`` answer.

    A matrix, or an instant query's vector (one point per series) or scalar (one unlabelled
    series). Series keep the answer's order (dicts are ordered), for checks of ``sort``.
    """
    doc = orjson.loads(body)
    if doc.get("status") != "success":
        raise ValueError(f"prometheus: {doc.get('errorType')}: {doc.get('error')}")
    data = doc["data"]
    out: Canon = {}
    if data["resultType"] == "scalar":
        t, v = data["result"]
        return {(): (np.array([round(float(t) * 1000)], np.int64), np.array([float(v)]))}
    for s in data["result"]:
        pts = [s["value"]] if data["resultType"] == "vector" else s["values"]
        ts = np.fromiter((round(p[0] * 1000) for p in pts), np.int64, len(pts))
        vs = np.fromiter((float(p[1]) for p in pts), np.float64, len(pts))
        out[tuple(sorted(s["metric"].items()))] = (ts, vs)
    return out


def from_promlake(series: pa.Table, points: pa.Table) -> Canon:
    """A ``QueryResult``'s tables (points sorted by series, t); a scalar has no series rows."""
    sid = points.column("series").to_numpy()
    ts = points.column("t").to_numpy()
    vs = points.column("v").to_numpy()
    if series.num_rows == 0:
        return {(): (ts, vs)} if len(ts) else {}
    labels = dict(zip(series.column("series").to_pylist(), series.column("labels").to_pylist(), strict=True))
    order = np.argsort(sid, kind="stable")
    sid, ts, vs = sid[order], ts[order], vs[order]
    cuts = np.flatnonzero(np.diff(sid)) + 1
    out: Canon = {}
    for a, b in zip(np.r_[0, cuts], np.r_[cuts, len(sid)], strict=True):
        if b > a:
            out[tuple(sorted(labels[int(sid[a])]))] = (ts[a:b], vs[a:b])
    return out


@dataclass
class Match:
    match: bool = True
    series_prometheus: int = 0
    series_promlake: int = 0
    points_prometheus: int = 0
    points_promlake: int = 0
    only_prometheus: int = 0  # label sets promlake lacks
    only_promlake: int = 0
    timestamp_mismatches: int = 0  # series with other timestamps
    value_mismatches: int = 0  # points beyond the tolerance (series with equal timestamps)
    max_rel_diff: float = 0.0
    examples: list[str] = field(default_factory=list)

    def summary(self) -> str:
        if self.match:
            return "yes"
        parts = []
        if self.series_prometheus != self.series_promlake:
            parts.append(f"series {self.series_prometheus} vs {self.series_promlake}")
        if self.only_prometheus or self.only_promlake:
            parts.append(f"label sets only in prom {self.only_prometheus}, only in lake {self.only_promlake}")
        if self.timestamp_mismatches:
            parts.append(f"{self.timestamp_mismatches} series with other timestamps")
        if self.value_mismatches:
            parts.append(f"{self.value_mismatches} values off (max rel {self.max_rel_diff:.2g})")
        return "NO: " + "; ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _fmt_key(key: Key) -> str:
    return "{" + ", ".join(f'{k}="{v}"' for k, v in key) + "}"


def _rel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """|a - b| / max(|a|, |b|); 0 where equal (NaN included), inf where one side is NaN or infinite."""
    with np.errstate(invalid="ignore", divide="ignore"):
        d = np.abs(a - b) / np.maximum(np.abs(a), np.abs(b))
    same = (a == b) | (np.isnan(a) & np.isnan(b))
    return np.where(same, 0.0, np.where(np.isnan(d), np.inf, d))


def compare(prom: Canon, lake: Canon, max_examples: int = 3) -> Match:
    m = Match(
        series_prometheus=len(prom),
        series_promlake=len(lake),
        points_prometheus=sum(len(t) for t, _ in prom.values()),
        points_promlake=sum(len(t) for t, _ in lake.values()),
    )
    only_p = [k for k in prom if k not in lake]
    only_l = [k for k in lake if k not in prom]
    m.only_prometheus, m.only_promlake = len(only_p), len(only_l)
    m.examples += [f"only in prometheus: {_fmt_key(k)}" for k in only_p[:max_examples]]
    m.examples += [f"only in promlake: {_fmt_key(k)}" for k in only_l[:max_examples]]
    for key in prom.keys() & lake.keys():
        (tp, vp), (tl, vl) = prom[key], lake[key]
        ts = tp
        if not np.array_equal(tp, tl):
            m.timestamp_mismatches += 1
            if len(m.examples) < max_examples:
                extra_p, extra_l = np.setdiff1d(tp, tl), np.setdiff1d(tl, tp)
                m.examples.append(
                    f"{_fmt_key(key)}: {len(tp)} vs {len(tl)} points; only prom at "
                    f"{extra_p[:3].tolist()}, only lake at {extra_l[:3].tolist()}"
                )
            # Compare the common steps' values anyway, so one off-by-one window does not hide the rest.
            ts, ip, il = np.intersect1d(tp, tl, return_indices=True)
            vp, vl = vp[ip], vl[il]
        ok = np.isclose(vp, vl, rtol=RTOL, atol=ATOL, equal_nan=True)
        if not ok.all():
            bad = np.flatnonzero(~ok)
            m.value_mismatches += len(bad)
            m.max_rel_diff = max(m.max_rel_diff, float(_rel(vp[bad], vl[bad]).max()))
            if len(m.examples) < max_examples:
                i = int(bad[0])
                m.examples.append(
                    f"{_fmt_key(key)} at {int(ts[i])}: {float(vp[i])!r} (prom) vs {float(vl[i])!r} (lake)"
                )
    m.match = not (only_p or only_l or m.timestamp_mismatches or m.value_mismatches)
    return m
