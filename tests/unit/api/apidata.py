"""The API unit tests' lake: a few series (some in Parquet, some in the head), exemplars, metadata."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np

from promlake import config as cfg
from promlake.engine import Lake, SeriesBatch
from promlake.selfmon import Metrics

T0 = 1_700_000_000_000  # ms; samples every 15 s for 10 minutes
STEP = 15_000
N = 41

SERIES = [
    {"__name__": "up", "job": "api", "instance": "a:1"},
    {"__name__": "up", "job": "api", "instance": "b:1"},
    {"__name__": "http_requests_total", "job": "api", "code": "200", "http.status": "ok"},
    {"__name__": "odd", "case": "small"},
    {"__name__": "odd", "case": "big"},
    {"__name__": "odd", "case": "nan"},
    {"__name__": "odd", "case": "inf"},
    {"__name__": "odd", "case": 'quote"<&>\n'},
]
VALUES = [1.0, 0.0, None, 1e-7, 1e21, float("nan"), float("-inf"), 0.5]


@dataclass
class FakeState:
    lake: Lake
    metrics: Metrics
    ready: bool = True
    lifecycle_enabled: bool = False
    config: cfg.Config = field(default_factory=lambda: cfg.load("global:\n  scrape_interval: 15s\n"))
    opts: SimpleNamespace = field(
        default_factory=lambda: SimpleNamespace(
            flags={"storage.path": "data/", "web.enable-lifecycle": False, "config.file": None},
            retention_ms=15 * 86_400_000,
            retention_bytes=None,
        )
    )

    def reload(self) -> None:
        pass

    def quit(self) -> None:
        pass


def load(lake: Lake) -> None:
    ts = T0 + np.arange(N, dtype=np.int64) * STEP
    idx, tss, vals = [], [], []
    for i, v in enumerate(VALUES):
        idx.append(np.full(N, i))
        tss.append(ts)
        vals.append(np.arange(N) * 1.5 if v is None else np.full(N, v))
    app = lake.appender()
    batch = SeriesBatch.from_dicts(SERIES)
    app.append(batch, np.concatenate(idx), np.concatenate(tss), np.concatenate(vals))
    app.append_exemplars(
        batch, np.array([2, 2]), np.array([T0 + 30_000, T0 + 60_000]), np.array([3.0, 1e-9]),
        SeriesBatch.from_dicts([{"trace_id": "abc"}, {"trace_id": "def", "span": "1"}]),
    )  # fmt: skip
    app.set_metadata("up", "gauge", "Whether the target is up.", "")
    app.set_metadata("http_requests_total", "counter", "Requests.", "")
    app.commit()
    lake.flush()  # the above in Parquet blocks; what follows stays in the head
    app = lake.appender()
    head = SeriesBatch.from_dicts([{"__name__": "head_only", "job": "x"}])
    app.append(head, np.zeros(3), T0 + 1_000_000 + np.arange(3) * STEP, np.array([1.0, 2.0, 3.0]))
    app.append_exemplars(
        head,
        np.array([0]),
        np.array([T0 + 1_000_000]),
        np.array([7.0]),
        SeriesBatch.from_dicts([{"trace_id": "h"}]),
    )
    app.commit()
