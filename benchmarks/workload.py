"""What a target exposes: the metric templates of the storage benchmark's generated data.

Two kinds of target, modelled on what a real Prometheus scrapes most: an application pod (Go
client_golang process/runtime metrics, HTTP request counters, latency and size histograms, a GC
summary, a few business gauges) and a node_exporter (per-CPU mode counters with centisecond
ticks, memory and filesystem gauges, network/disk byte counters, per-collector scrape durations).

The value *shapes* matter more than the names: storage engines compress integers counted by
Poisson increments, centisecond floats, page-aligned byte gauges, constants and full-precision
noise very differently, so each row says which shape it has (its ``kind``) and the parameters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

# Value shapes ("kinds"). Parameters a..d per kind:
COUNTER = 0  # a=rate/s, b=quantum (value = ticks*quantum), c=initial value scale, d=1 if a restart resets it
GAUGE_AR = 1  # mean-reverting walk: a=mean, b=innovation sd, c=quantum (0: full precision), d=phi
GAUGE_CONST = 2  # a=value
GAUGE_NOISE = 3  # iid full-precision noise: a=mean, b=relative sd
GAUGE_START = 4  # process/boot start time in seconds (centiseconds); d=1 if a restart changes it
GAUGE_TIME = 5  # node_time_seconds: the scrape time with sub-ms noise
HIST_BUCKET = 6  # cumulative bucket `pos` of histogram `group`
HIST_SUM = 7
HIST_COUNT = 8
SUMMARY_QUANTILE = 9  # quantile `pos` of summary `group`
SUMMARY_SUM = 10
SUMMARY_COUNT = 11


@dataclass(frozen=True)
class Row:
    """One series of a target: sample name, labels beyond the target's, value shape."""

    family: str
    mtype: str
    name: str
    labels: tuple[tuple[str, str], ...]
    kind: int
    a: float = 0.0
    b: float = 0.0
    c: float = 0.0
    d: float = 0.0
    group: int = -1
    pos: int = 0


@dataclass(frozen=True)
class Observed:
    """A classic histogram or a summary: observations per second and their log-normal law."""

    rate: float
    mu: float
    sigma: float
    bounds: tuple[float, ...] = ()  # histogram upper bounds without +Inf
    quantiles: tuple[float, ...] = ()  # summary quantiles


@dataclass
class Template:
    job: str
    rows: list[Row] = field(default_factory=list)
    groups: list[Observed] = field(default_factory=list)

    def counter(self, family: str, labels: dict[str, str], rate: float, quantum: float = 1.0,
                init: float = 0.0, resets: bool = True, suffix: str = "_total") -> None:
        self.rows.append(Row(family, "counter", family + suffix, tuple(labels.items()), COUNTER,
                             rate, quantum, init, 1.0 if resets else 0.0))

    def gauge(self, name: str, labels: dict[str, str], kind: int, a: float = 0.0, b: float = 0.0,
              c: float = 0.0, d: float = 0.0) -> None:
        self.rows.append(Row(name, "gauge", name, tuple(labels.items()), kind, a, b, c, d))

    def histogram(self, family: str, labels: dict[str, str], obs: Observed) -> None:
        g = len(self.groups)
        self.groups.append(obs)
        base = tuple(labels.items())
        for i, le in enumerate((*obs.bounds, math.inf)):
            self.rows.append(Row(family, "histogram", family + "_bucket", (*base, ("le", _le(le))),
                                 HIST_BUCKET, group=g, pos=i))
        self.rows.append(Row(family, "histogram", family + "_sum", base, HIST_SUM, group=g))
        self.rows.append(Row(family, "histogram", family + "_count", base, HIST_COUNT, group=g))

    def summary(self, family: str, labels: dict[str, str], obs: Observed) -> None:
        g = len(self.groups)
        self.groups.append(obs)
        base = tuple(labels.items())
        for i, q in enumerate(obs.quantiles):
            self.rows.append(Row(family, "summary", family, (*base, ("quantile", _le(q))),
                                 SUMMARY_QUANTILE, group=g, pos=i))
        self.rows.append(Row(family, "summary", family + "_sum", base, SUMMARY_SUM, group=g))
        self.rows.append(Row(family, "summary", family + "_count", base, SUMMARY_COUNT, group=g))


def _le(bound: float) -> str:
    # client_golang formats bucket bounds with strconv 'g'-style shortest text and +Inf.
    return "+Inf" if math.isinf(bound) else repr(bound).removesuffix(".0")


LATENCY_BOUNDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def api_template() -> Template:
    """An HTTP service pod instrumented with client_golang (~113 series)."""
    t = Template("api")
    handlers = {"/api/v1/users": 20.0, "/api/v1/orders": 8.0, "/api/v1/items": 12.0, "/api/v1/search": 3.0}
    # Requests/s per (method, code) as a fraction of the handler's traffic: errors are rare, so
    # most error counters stay flat for long stretches, as they do in production.
    codes = [("GET", "200", 0.8), ("GET", "404", 0.02), ("GET", "500", 0.002), ("POST", "201", 0.15),
             ("POST", "400", 0.01), ("POST", "500", 0.0005)]
    for h, rate in handlers.items():
        for method, code, frac in codes:
            t.counter("http_requests", {"handler": h, "method": method, "code": code}, rate * frac)
    for i, (h, rate) in enumerate(handlers.items()):
        t.histogram("http_request_duration_seconds", {"handler": h},
                    Observed(rate, math.log(0.03 * (i + 1)), 1.1, bounds=LATENCY_BOUNDS))
    t.histogram("http_response_size_bytes", {},
                Observed(43.0, math.log(4000.0), 1.6, bounds=(100.0, 1000.0, 1e4, 1e5, 1e6, 1e7)))
    t.summary("go_gc_duration_seconds", {},
              Observed(0.08, math.log(3e-4), 0.6, quantiles=(0.0, 0.25, 0.5, 0.75, 1.0)))
    t.counter("process_cpu_seconds", {}, 0.35, quantum=0.01)
    t.gauge("process_resident_memory_bytes", {}, GAUGE_AR, 2.6e8, 3e6, 4096.0, 0.97)
    t.gauge("process_virtual_memory_bytes", {}, GAUGE_AR, 1.9e9, 2e6, 4096.0, 0.99)
    t.gauge("process_open_fds", {}, GAUGE_AR, 42.0, 1.5, 1.0, 0.9)
    t.gauge("process_max_fds", {}, GAUGE_CONST, 1048576.0)
    t.gauge("process_start_time_seconds", {}, GAUGE_START, d=1.0)  # a new process, a new start time
    t.gauge("go_goroutines", {}, GAUGE_AR, 130.0, 6.0, 1.0, 0.85)
    t.gauge("go_threads", {}, GAUGE_AR, 14.0, 0.15, 1.0, 0.95)
    t.gauge("go_memstats_heap_alloc_bytes", {}, GAUGE_AR, 6.4e7, 6e6, 1.0, 0.7)
    t.gauge("go_memstats_heap_objects", {}, GAUGE_AR, 3.1e5, 2e4, 1.0, 0.7)
    t.counter("go_memstats_alloc_bytes", {}, 2.4e6)
    t.counter("go_memstats_mallocs", {}, 1.1e4)
    t.gauge("go_info", {"version": "go1.20.4"}, GAUGE_CONST, 1.0)
    t.gauge("app_build_info", {"version": "1.14.2", "revision": "3f9c2ab", "branch": "main"}, GAUGE_CONST, 1.0)
    t.gauge("db_pool_connections_in_use", {"pool": "primary"}, GAUGE_AR, 6.0, 1.2, 1.0, 0.5)
    t.gauge("db_pool_max_connections", {"pool": "primary"}, GAUGE_CONST, 50.0)
    for q, depth in (("emails", 3.0), ("webhooks", 11.0)):
        t.gauge("queue_depth", {"queue": q}, GAUGE_AR, depth, 2.0, 1.0, 0.7)
    t.gauge("cache_hit_ratio", {"cache": "sessions"}, GAUGE_NOISE, 0.93, 0.01)
    t.counter("cache_requests", {"cache": "sessions", "result": "hit"}, 30.0)
    t.counter("cache_requests", {"cache": "sessions", "result": "miss"}, 2.2)
    return t


def node_template() -> Template:
    """A node_exporter on a 4-CPU machine (~87 series). Kernel counters survive exporter restarts."""
    t = Template("node")
    modes = {"idle": 0.70, "user": 0.15, "system": 0.08, "iowait": 0.03, "irq": 0.003,
             "softirq": 0.01, "steal": 0.002, "nice": 0.005}
    for cpu in range(4):
        for mode, frac in modes.items():
            t.counter("node_cpu_seconds", {"cpu": str(cpu), "mode": mode}, frac, quantum=0.01,
                      init=2e6 * frac, resets=False)
    # /proc/meminfo is in kB, so these are multiples of 1024.
    t.gauge("node_memory_MemTotal_bytes", {}, GAUGE_CONST, 16_765_214_720.0)
    for name, mean, sd in (("MemFree", 2.1e9, 2e7), ("MemAvailable", 9.8e9, 2e7), ("Buffers", 3.1e8, 1e5),
                           ("Cached", 6.9e9, 1e7)):
        t.gauge(f"node_memory_{name}_bytes", {}, GAUGE_AR, mean, sd, 1024.0, 0.98)
    for name, sd in (("node_load1", 0.25), ("node_load5", 0.08), ("node_load15", 0.03)):
        t.gauge(name, {}, GAUGE_AR, 1.3, sd, 0.01, 0.95)
    for dev, rx, tx in (("eth0", 9.0e4, 6.5e4), ("lo", 1.2e4, 1.2e4)):
        t.counter("node_network_receive_bytes", {"device": dev}, rx, init=1e11, resets=False)
        t.counter("node_network_transmit_bytes", {"device": dev}, tx, init=1e11, resets=False)
        t.counter("node_network_receive_packets", {"device": dev}, rx / 900, init=1e8, resets=False)
    for dev in ("sda", "sdb"):
        # Disk bytes move in 512-byte sectors; io time is reported in milliseconds.
        t.counter("node_disk_read_bytes", {"device": dev}, 2.0e4, quantum=512.0, init=1e11, resets=False)
        t.counter("node_disk_written_bytes", {"device": dev}, 1.5e5, quantum=512.0, init=1e12, resets=False)
        t.counter("node_disk_io_time_seconds", {"device": dev}, 0.02, quantum=0.001, init=1e5, resets=False)
    for mp, size in (("/", 1.0e11), ("/var", 5.0e10), ("/data", 5.0e11)):
        t.gauge("node_filesystem_avail_bytes", {"mountpoint": mp, "fstype": "ext4"}, GAUGE_AR,
                size * 0.4, 4e5, 4096.0, 0.999)
        t.gauge("node_filesystem_size_bytes", {"mountpoint": mp, "fstype": "ext4"}, GAUGE_CONST, size)
    t.counter("node_context_switches", {}, 2.1e3, init=1e10, resets=False)
    t.counter("node_intr", {}, 1.4e3, init=1e10, resets=False)
    t.gauge("node_boot_time_seconds", {}, GAUGE_START)
    t.gauge("node_time_seconds", {}, GAUGE_TIME)
    t.gauge("node_uname_info", {"release": "6.1.0-18-amd64", "machine": "x86_64"}, GAUGE_CONST, 1.0)
    for coll, mean in (("cpu", 4e-4), ("diskstats", 3e-4), ("filesystem", 9e-4), ("loadavg", 5e-5),
                       ("meminfo", 2e-4), ("netdev", 6e-4), ("stat", 1.5e-4), ("time", 2e-5),
                       ("uname", 1e-5), ("vmstat", 3e-4)):
        t.gauge("node_scrape_collector_duration_seconds", {"collector": coll}, GAUGE_NOISE, mean, 0.3)
        t.gauge("node_scrape_collector_success", {"collector": coll}, GAUGE_CONST, 1.0)
    return t


def templates() -> list[Template]:
    return [api_template(), node_template()]
