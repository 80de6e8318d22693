"""The query benchmark's fixed data sets and queries (issue "PromQL": latency vs Prometheus 2.42).

Two sets, each with its own generated data (``datagen.Spec``) and its own list of queries:

- ``dashboard``: what a Grafana dashboard asks of ~10k active series: rates, ``sum by``,
  ``histogram_quantile``, ratios, ``topk``, ``*_over_time``, plain selectors; every expression
  over the last 1h at a 15s step (241 points) and the last 6h at a 30s step (721 points).
- ``longrange``: 30 days of fewer series (~1,000, scraped every 60s) queried over the whole
  30 days at 1h or 3h steps (721 / 241 points), with 1h and 1d windows.

Metric names are those of ``workload.py`` (client_golang pods with job="api", node_exporters
with job="node"). Query ranges end at the end of the data, aligned to the step as Grafana does.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from benchmarks.datagen import HOUR_MS, Spec
from benchmarks.prom_side import block_range_ms

MINUTE_MS = 60_000
DAY_MS = 24 * HOUR_MS


@dataclass(frozen=True)
class Query:
    name: str  # short id, unique in its set
    expr: str
    range_ms: int  # how far back from the end of the data (clipped to the data's span)
    step_ms: int

    def window(self, spec: Spec) -> tuple[int, int, int]:
        """``(start_ms, end_ms, step_ms)``: ends at the last step before the data's end."""
        end = (spec.end_ms // self.step_ms) * self.step_ms
        span = ((end - spec.start_ms) // self.step_ms) * self.step_ms
        return end - min(self.range_ms, span), end, self.step_ms


@dataclass(frozen=True)
class QuerySet:
    name: str
    spec: Spec
    queries: tuple[Query, ...]
    max_block_ms: int  # promtool --max-block-duration (what Prometheus's compaction would leave)
    rounds_per_batch: int  # scrape rounds of all targets per promlake commit when building the lake


# (name, expression): every one runs at 1h/15s and 6h/30s.
DASHBOARD_EXPRS: tuple[tuple[str, str], ...] = (
    ("sum_rate_by_job", "sum by (job) (rate(http_requests_total[5m]))"),
    ("rate_cpu", "rate(node_cpu_seconds_total[5m])"),
    ("hq99_by_le", "histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))"),
    ("hq90_by_handler",
     "histogram_quantile(0.9, sum by (handler, le) (rate(http_request_duration_seconds_bucket[5m])))"),
    ("error_ratio", 'sum(rate(http_requests_total{code=~"5.."}[5m])) / sum(rate(http_requests_total[5m]))'),
    ("topk_instance", "topk(10, sum by (instance) (rate(http_requests_total[5m])))"),
    ("cpu_busy_by_node", '1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[5m]))'),
    ("mem_avail_ratio", "node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes"),
    ("avg_goroutines", "avg_over_time(go_goroutines[5m])"),
    ("selector_rss", "process_resident_memory_bytes"),
)
DASHBOARD_RANGES: tuple[tuple[str, int, int], ...] = (("1h", HOUR_MS, 15_000), ("6h", 6 * HOUR_MS, 30_000))

# (name, expression, step): over the last 30 days.
LONGRANGE_EXPRS: tuple[tuple[str, str, int], ...] = (
    ("increase_by_job_1h", "sum by (job) (increase(http_requests_total[1h]))", HOUR_MS),
    ("max_rss_1d", "max_over_time(process_resident_memory_bytes[1d])", 3 * HOUR_MS),
    ("avg_load_1h", "avg_over_time(node_load1[1h])", HOUR_MS),
    ("cpu_busy_by_node_1h", 'sum by (instance) (rate(node_cpu_seconds_total{mode!="idle"}[1h]))', HOUR_MS),
    ("hq99_by_le_1h",
     "histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[1h])))", 3 * HOUR_MS),
    ("error_ratio_1d",
     'sum(increase(http_requests_total{code=~"5.."}[1d])) / sum(increase(http_requests_total[1d]))', 3 * HOUR_MS),
    ("min_fs_avail_1d", "min_over_time(node_filesystem_avail_bytes[1d])", 3 * HOUR_MS),
    ("topk_instance_1h", "topk(5, sum by (instance) (increase(http_requests_total[1h])))", HOUR_MS),
    ("p95_goroutines_1h", "quantile_over_time(0.95, go_goroutines[1h])", HOUR_MS),
    ("selector_rss", "process_resident_memory_bytes", HOUR_MS),
)

SETS = ("dashboard", "longrange")


def dashboard(quick: bool = False, series: int | None = None, hours: float | None = None, seed: int = 1) -> QuerySet:
    """~10k active series over 8h at 15s (the 6h queries then start with full 5m windows).

    ``quick``: 1,000 series over 2h, the 1h ranges only. One promtool block of the compaction range that holds the
    data (18h), as Prometheus's compaction of its 2h head blocks would leave.
    """
    spec = Spec(series=series or (1000 if quick else 10_000), hours=hours or (2.0 if quick else 8.0), seed=seed)
    ranges = DASHBOARD_RANGES[:1] if quick else DASHBOARD_RANGES
    queries = tuple(Query(f"{name}@{rname}", expr, rng, step)
                    for name, expr in DASHBOARD_EXPRS for rname, rng, step in ranges)
    return QuerySet("dashboard", spec, queries, max_block_ms=block_range_ms(spec.end_ms - spec.start_ms), rounds_per_batch=1)


def longrange(quick: bool = False, series: int | None = None, days: float | None = None, seed: int = 1) -> QuerySet:
    """~1,000 active series over 30 days at 60s (42.6M samples, a 7.5 GB OpenMetrics file).

    Churn and restarts are daily events here, not hourly: at hourly churn a month would create
    70x the active series, which is not what long-lived dashboards look at. Prometheus never
    compacts beyond 31 days (10% of retention, at most 31d), so promtool's blocks are at most
    486h (2h x 3^5), its largest compaction range below that. ``quick``: 400 series, 3 days,
    the 30-day ranges clipped to the data.
    """
    d = days or (3.0 if quick else 30.0)
    spec = Spec(series=series or (400 if quick else 1000), hours=24.0 * d, interval_ms=60_000, seed=seed,
                churn_every_min=24 * 60.0, churn_phase_min=12 * 60.0)
    queries = tuple(Query(name, expr, 30 * DAY_MS, step) for name, expr, step in LONGRANGE_EXPRS)
    return QuerySet("longrange", spec, queries, max_block_ms=min(block_range_ms(spec.end_ms - spec.start_ms), 486 * HOUR_MS),
                    rounds_per_batch=10)


def get(name: str, quick: bool = False, **overrides: float | int | None) -> QuerySet:
    if name == "dashboard":
        return dashboard(quick, **overrides)  # type: ignore[arg-type]
    if name == "longrange":
        return longrange(quick, **overrides)  # type: ignore[arg-type]
    raise ValueError(f"unknown query set {name!r}")


def only(qs: QuerySet, names: list[str]) -> QuerySet:
    """The set restricted to queries whose name starts with one of ``names``."""
    return replace(qs, queries=tuple(q for q in qs.queries if any(q.name.startswith(n) for n in names)))
