"""The differential tests' data: small, deterministic, and the same samples for both sides.

211 series over two hours at a 15 s interval (98,520 samples), in the shapes a Prometheus
server holds: request counters per job/instance/method/code with process restarts (counter
resets), CPU-seconds counters, gauges crossing zero, a byte gauge, ``up``, an info metric for
joins, a classic histogram (``_bucket{le}``/``_sum``/``_count``), a summary whose quantiles are
NaN when a scrape saw no observation, and batch workers that come and go in the middle of the
range (series churn).

Timestamps are chosen so that PromQL's window edges never fall on a sample, which is where
Prometheus 2.x (closed windows) and 3.x (left-open windows) disagree: every sample of the
``demo_*`` series lies 47-953 ms past a whole second, while the query times, ranges, offsets and
subquery steps of ``queries.yml`` are whole seconds. The ``edge_*`` series are built to *show*
the known 2.x/3.x differences (see ``known_differences.yml``): samples on whole 15 s marks, a
counter whose first sample is about one scrape's increase, a label value with a newline.

Counters start far from zero, so the 3.x change to rate extrapolation at a series' start
(which only matters when the first value is within about one interval's increase of zero)
does not touch them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from benchmarks.datagen import DEFAULT_START_MS
from benchmarks.openmetrics import format_lines, write_utf8

SEED = 4242
START_MS = DEFAULT_START_MS  # a multiple of 54 h, so of every whole minute and hour
INTERVAL_MS = 15_000
ROUNDS = 480  # two hours
END_MS = START_MS + ROUNDS * INTERVAL_MS

TARGETS: tuple[tuple[str, str], ...] = (
    ("api", "10.0.1.1:8080"),
    ("api", "10.0.1.2:8080"),
    ("api", "10.0.1.3:8080"),
    ("web", "10.0.2.1:80"),
    ("web", "10.0.2.2:80"),
    ("batch", "10.0.3.1:9000"),
    ("batch", "10.0.3.2:9000"),
)
# Process restarts: target index -> scrape round at which its counters start again from zero.
RESTARTS = {1: 170, 4: 333, 6: 95}
BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
# Batch workers: (first round, end round) of their series; w6 lives throughout.
WORKERS = {
    "w1": (0, 180),
    "w2": (60, 300),
    "w3": (150, 480),
    "w4": (240, 420),
    "w5": (330, 480),
    "w6": (0, 480),
}
FRESH_START_ROUND = 120  # edge_fresh_total's first scrape


@dataclass(frozen=True)
class Series:
    family: str  # the OpenMetrics metric family (``# TYPE`` line)
    mtype: str
    labels: dict[str, str]  # with __name__
    ts: np.ndarray  # int64 ms, increasing
    values: np.ndarray  # float64


@dataclass
class Dataset:
    series: list[Series] = field(default_factory=list)

    @property
    def n_samples(self) -> int:
        return sum(len(s.ts) for s in self.series)

    def add(
        self, family: str, mtype: str, labels: dict[str, str], ts: np.ndarray, values: np.ndarray
    ) -> None:
        assert len(ts) == len(values) and np.all(np.diff(ts) > 0)
        self.series.append(Series(family, mtype, labels, ts.astype(np.int64), values.astype(np.float64)))

    def families(self) -> Iterator[tuple[str, str, list[Series]]]:
        """Series grouped by family, families in first-seen order."""
        groups: dict[tuple[str, str], list[Series]] = {}
        for s in self.series:
            groups.setdefault((s.family, s.mtype), []).append(s)
        for (family, mtype), members in groups.items():
            yield family, mtype, members


# --- generation ---------------------------------------------------------------------------


def scrape_times(rng: np.random.Generator, r0: int = 0, r1: int = ROUNDS) -> np.ndarray:
    """Scrape timestamps of rounds [r0, r1) at a random phase, 47-953 ms past a whole second."""
    phase = 1000 * int(rng.integers(0, 15)) + int(rng.integers(50, 950))
    jitter = rng.integers(-3, 4, r1 - r0)  # a few ms, as a real scraper
    return START_MS + phase + np.arange(r0, r1, dtype=np.int64) * INTERVAL_MS + jitter


def counter(
    rng: np.random.Generator, n: int, per_scrape: float, start: float, resets: tuple[int, ...] = ()
) -> np.ndarray:
    """A counter: Poisson increments, starting at ``start``, back to zero at each reset index."""
    inc = rng.poisson(per_scrape, n).astype(np.float64)
    v = start + np.cumsum(inc)
    for r in resets:
        if 0 < r < n:
            v[r:] -= v[r] - inc[r]
    return v


def _target_series(ds: Dataset, rng: np.random.Generator, k: int, job: str, instance: str) -> None:
    target = {"job": job, "instance": instance}
    ts = scrape_times(rng)
    restart = RESTARTS.get(k)
    resets = (restart,) if restart is not None else ()
    n = len(ts)
    for method in ("GET", "POST"):
        for code in ("200", "404", "500"):
            per = (
                {"200": 40.0, "404": 3.0, "500": 0.4}[code] * (1.0 if method == "GET" else 0.3) * (k % 3 + 1)
            )
            v = counter(rng, n, per, float(rng.integers(2_000, 90_000)) * per, resets)
            ds.add(
                "demo_requests",
                "counter",
                {"__name__": "demo_requests_total", **target, "method": method, "code": code},
                ts,
                v,
            )
    for mode, share in (("idle", 0.7), ("user", 0.2), ("system", 0.1)):
        # Centisecond ticks, as node_exporter's cpu seconds.
        v = counter(rng, n, share * 15 * 100, float(rng.integers(100_000, 900_000)), resets) / 100.0
        ds.add(
            "demo_cpu_seconds",
            "counter",
            {"__name__": "demo_cpu_seconds_total", **target, "mode": mode},
            ts,
            v,
        )
    # A classic histogram: per scrape a Poisson number of log-normal observations.
    rounds = np.arange(n)
    p_edges = np.r_[0.0, _lognormal_cdf(np.array(BUCKETS), mu=-1.6 + 0.2 * (k % 3), sigma=0.9), 1.0]
    p = np.diff(p_edges)
    count = rng.poisson(12.0 + 4 * k, n)
    per_bucket = np.stack([rng.multinomial(c, p) for c in count])  # (n, len(BUCKETS)+1)
    initial = rng.multinomial(int(rng.integers(40_000, 120_000)), p)
    cum = np.cumsum(per_bucket, axis=0) + initial
    mids = np.r_[np.array(BUCKETS) / 2 + np.r_[0.0, BUCKETS[:-1]] / 2, 7.5]
    sum_inc = (per_bucket * mids).sum(axis=1) * rng.uniform(0.9, 1.1, n)
    total = np.cumsum(sum_inc) + float((initial * mids).sum())
    if restart is not None:
        cum[restart:] -= cum[restart] - per_bucket[restart]
        total[restart:] -= total[restart] - sum_inc[restart]
    fam = "demo_request_duration_seconds"
    buckets = np.cumsum(cum, axis=1)  # cumulative over le
    for j, le in enumerate([*map(_le, BUCKETS), "+Inf"]):
        ds.add(
            fam,
            "histogram",
            {"__name__": fam + "_bucket", **target, "le": le},
            ts,
            buckets[:, j].astype(np.float64),
        )
    ds.add(fam, "histogram", {"__name__": fam + "_sum", **target}, ts, np.round(total, 6))
    ds.add(fam, "histogram", {"__name__": fam + "_count", **target}, ts, buckets[:, -1].astype(np.float64))
    # A summary: client-side quantiles, NaN where a scrape saw no observation (mostly batch).
    obs = rng.poisson(1.5 if job == "batch" else 20.0, n)
    latency = 0.05 * (1 + k % 3) * np.exp(rng.normal(0, 0.2, n))
    fam = "demo_rpc_duration_seconds"
    for q, mult in (("0.5", 1.0), ("0.9", 2.2), ("0.99", 4.5)):
        v = np.where(obs > 0, np.round(latency * mult, 6), np.nan)
        ds.add(fam, "summary", {"__name__": fam, **target, "quantile": q}, ts, v)
    rpc_count = float(rng.integers(50_000, 90_000)) + np.cumsum(obs).astype(np.float64)
    spent = obs * latency * 1.3
    rpc_sum = rpc_count[0] * 0.07 + np.cumsum(spent)
    if restart is not None:
        rpc_count[restart:] -= rpc_count[restart] - obs[restart]
        rpc_sum[restart:] -= rpc_sum[restart] - spent[restart]
    ds.add(fam, "summary", {"__name__": fam + "_sum", **target}, ts, np.round(rpc_sum, 6))
    ds.add(fam, "summary", {"__name__": fam + "_count", **target}, ts, rpc_count)
    # Gauges: a temperature around zero (negative values), memory in pages, up, an info metric.
    temp = 6.0 * np.sin(2 * np.pi * rounds / 240 + k) + float(rng.uniform(-3, 3)) + rng.normal(0, 0.4, n)
    ds.add(
        "demo_temperature_celsius",
        "gauge",
        {"__name__": "demo_temperature_celsius", **target},
        ts,
        np.round(temp, 2),
    )
    mem = 2.5e8 * (1 + k % 4) + np.cumsum(rng.normal(0, 2e6, n))
    ds.add(
        "demo_memory_usage_bytes",
        "gauge",
        {"__name__": "demo_memory_usage_bytes", **target},
        ts,
        np.round(mem / 4096) * 4096,
    )
    up = np.ones(n)
    if restart is not None:
        up[restart - 2 : restart] = 0.0
    ds.add("demo_up", "gauge", {"__name__": "demo_up", **target}, ts, up)
    version = "1.4.2" if k % 2 else "1.5.0"
    ds.add(
        "demo_build_info",
        "gauge",
        {"__name__": "demo_build_info", **target, "version": version},
        ts,
        np.ones(n),
    )


def _le(b: float) -> str:
    return repr(b)


def _lognormal_cdf(x: np.ndarray, mu: float, sigma: float) -> np.ndarray:
    from statistics import NormalDist

    nd = NormalDist()
    return np.array([nd.cdf((np.log(v) - mu) / sigma) for v in x])


def _workers(ds: Dataset, rng: np.random.Generator) -> None:
    for worker, (r0, r1) in WORKERS.items():
        labels = {"job": "batch", "worker": worker}
        ts = scrape_times(rng, r0, r1)
        n = len(ts)
        tasks = counter(rng, n, 5.0, float(rng.integers(1_000, 5_000)))
        ds.add("demo_worker_tasks", "counter", {"__name__": "demo_worker_tasks_total", **labels}, ts, tasks)
        depth = np.maximum(0, np.cumsum(rng.integers(-3, 4, n)) + int(rng.integers(5, 30)))
        ds.add(
            "demo_worker_queue_depth",
            "gauge",
            {"__name__": "demo_worker_queue_depth", **labels},
            ts,
            depth.astype(np.float64),
        )


def _edges(ds: Dataset, rng: np.random.Generator) -> None:
    """Series that show the known Prometheus 2.x/3.x differences (``known_differences.yml``)."""
    # Samples exactly on the 15 s marks: windows of whole seconds hit them at their left edge.
    ts = START_MS + np.arange(ROUNDS, dtype=np.int64) * INTERVAL_MS
    ds.add(
        "edge_aligned_value",
        "gauge",
        {"__name__": "edge_aligned_value", "job": "edge"},
        ts,
        np.arange(ROUNDS, dtype=np.float64),
    )
    # A counter born mid-range whose first sample is about one scrape's increase.
    ts = scrape_times(rng, FRESH_START_ROUND)
    v = 8.0 + np.arange(len(ts), dtype=np.float64) * 10.0
    ds.add("edge_fresh", "counter", {"__name__": "edge_fresh_total", "job": "edge"}, ts, v)
    # A label value with a newline: only 3.x's regex `.` matches it.
    ts = scrape_times(rng)
    ds.add(
        "edge_text_info",
        "gauge",
        {"__name__": "edge_text_info", "job": "edge", "text": "first\nsecond"},
        ts,
        np.ones(len(ts)),
    )


def generate(seed: int = SEED) -> Dataset:
    rng = np.random.default_rng(seed)
    ds = Dataset()
    for k, (job, instance) in enumerate(TARGETS):
        _target_series(ds, rng, k, job, instance)
    _workers(ds, rng)
    _edges(ds, rng)
    return ds


# --- the two ways in ------------------------------------------------------------------------


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def series_text(labels: dict[str, str]) -> str:
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items() if k != "__name__")
    return labels["__name__"] + "{" + inner + "}"


def write_openmetrics(ds: Dataset, path: Path) -> int:
    """The dataset as OpenMetrics text for ``promtool tsdb create-blocks-from openmetrics``."""
    with open(path, "wb") as out:
        for family, mtype, members in ds.families():
            out.write(f"# TYPE {family} {mtype}\n".encode())
            for s in members:
                text = pa.array([series_text(s.labels)] * len(s.ts), pa.string())
                write_utf8(out, format_lines(text, s.ts, s.values))
        out.write(b"# EOF\n")
    return ds.n_samples


def load_into_lake(ds: Dataset, lake: Any) -> int:
    """Append everything in time order through one Appender, commit, flush to Parquet."""
    from promlake.engine import SeriesBatch

    batch = SeriesBatch.from_dicts([s.labels for s in ds.series])
    index = np.concatenate([np.full(len(s.ts), i, np.int32) for i, s in enumerate(ds.series)])
    ts = np.concatenate([s.ts for s in ds.series])
    values = np.concatenate([s.values for s in ds.series])
    order = np.argsort(ts, kind="stable")
    app = lake.appender()
    app.append(batch, index[order], ts[order], values[order])
    app.commit()
    lake.flush()
    return len(ts)


# --- query times ------------------------------------------------------------------------------

_T0 = re.compile(r"\$T0([+-]\d+)?")


def expand(expr: str) -> str:
    """``$T0`` (plus or minus whole seconds) in a query: the data's start in Unix seconds."""
    return _T0.sub(lambda m: str(START_MS // 1000 + int(m.group(1) or 0)), expr)
