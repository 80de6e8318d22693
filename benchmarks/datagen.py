"""Deterministic, realistic metrics data for the storage benchmark.

The data is what a Prometheus scraping ``N`` targets would store: per target the series of a
template (``workload.py``), scraped every ``interval`` at a per-target phase with a few ms of
jitter; counters restart from zero when a process restarts; every ``churn_every_min`` a fraction of
the targets is replaced by a new instance (pod rescheduled, node replaced), so old series end and
new ones begin.

Generation runs in *chunks* of scrape rounds (at most an hour, split at churn events so a chunk
has one fixed set of active series) with a random stream derived from ``(seed, chunk, template)``.
Every consumer (the OpenMetrics writer for promtool, the remote-write sender, promlake's
appender) iterates the same chunks, so all of them see bit-identical samples. Python loops run
per chunk, template, value shape or scrape round, never per sample.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import pyarrow as pa

from benchmarks import workload as wl

HOUR_MS = 3_600_000
# 54h is Prometheus's third compaction range (2h * 3^2); starting the data on a multiple of it lets
# one promtool block hold up to 54h of it, as compaction would eventually do.
DEFAULT_START_MS = (1_700_000_000_000 // (54 * HOUR_MS)) * (54 * HOUR_MS)
CHUNK_MAX_ROUNDS = 240


@dataclass(frozen=True)
class Spec:
    series: int = 10_000  # active series wanted (targets = series / mean template size)
    hours: float = 6.0
    interval_ms: int = 15_000
    jitter_ms: float = 1.0  # sd of when a scrape really starts around the target's phase
    late_share: float = 0.01  # scrapes that start 5-60 ms late (a busy scraper)
    align_tolerance_ms: int = 2  # Prometheus's --scrape.timestamp-tolerance (0 disables alignment)
    churn_every_min: float = 60.0
    churn_phase_min: float = 30.0
    churn_fraction: float = 0.1
    restarts_per_target_day: float = 0.5  # in-place process restarts (counter resets)
    node_share: float = 0.25  # fraction of targets that are node_exporters
    seed: int = 1
    start_ms: int = DEFAULT_START_MS

    @property
    def rounds(self) -> int:
        return max(1, round(self.hours * HOUR_MS / self.interval_ms))

    @property
    def end_ms(self) -> int:
        return self.start_ms + self.rounds * self.interval_ms


@dataclass
class Chunk:
    """Scrape rounds ``[r0, r1)`` of every series active throughout them, one row per series."""

    r0: int
    r1: int
    gids: np.ndarray  # int64 (S,): global series ids
    ts: np.ndarray  # int64 (S, R): ms since epoch
    values: np.ndarray  # float64 (S, R)

    @property
    def n_samples(self) -> int:
        return int(self.values.size)


@dataclass
class LabelSet:
    """Label sets of a batch's series, in the long (one row per label) form Arrow likes."""

    gids: np.ndarray
    label_series: np.ndarray  # int32: which series each label row belongs to
    names: pa.Array
    values: pa.Array
    dicts_: list[dict[str, str]]

    @property
    def n_series(self) -> int:
        return len(self.gids)

    def dicts(self) -> list[dict[str, str]]:
        return self.dicts_


@dataclass
class Batch:
    labels: LabelSet
    series_index: np.ndarray  # int32 rows of ``labels``
    ts: np.ndarray  # int64 ms, non-decreasing
    values: np.ndarray  # float64

    @property
    def n_samples(self) -> int:
        return len(self.ts)


def _cum_with_resets(carry: np.ndarray, inc: np.ndarray, reset: np.ndarray) -> np.ndarray:
    """Running totals of non-negative ``inc`` along the last axis that restart at ``reset``.

    A restarted process counts from zero, so the value at a reset round is that round's increment.
    Totals never decrease between resets, so the base to subtract is a running maximum.
    """
    total = np.cumsum(inc, axis=-1) + carry[..., None]
    base = np.where(reset, total - inc, 0.0)
    np.maximum.accumulate(base, axis=-1, out=base)
    return total - base


def _ffill(mask: np.ndarray, fresh: np.ndarray, carry: np.ndarray) -> np.ndarray:
    """Along the last axis, the latest ``fresh`` value where ``mask`` was set, else ``carry``."""
    idx = np.where(mask, np.arange(mask.shape[-1]), -1)
    np.maximum.accumulate(idx, axis=-1, out=idx)
    picked = np.take_along_axis(fresh, np.maximum(idx, 0), axis=-1)
    return np.where(idx >= 0, picked, carry[..., None])


def _from_ticks(ticks: np.ndarray, quantum: np.ndarray) -> np.ndarray:
    """Integer ticks as the exporter's float: ticks*quantum, or ticks/(1/quantum) below one.

    Sub-unit quanta come from integer ticks divided by e.g. USER_HZ=100, which yields the shortest
    decimal (1.23), not ticks*0.01 (1.2300000000000002).
    """
    inv = np.round(1.0 / np.where((quantum > 0) & (quantum < 1), quantum, 1.0))
    return np.where(quantum >= 1, ticks * quantum, ticks / inv)


def _quantize(x: np.ndarray, quantum: np.ndarray) -> np.ndarray:
    """Round a gauge to its quantum; quantum 0 keeps full precision."""
    q = np.where(quantum > 0, quantum, 1.0)
    return np.where(quantum > 0, _from_ticks(np.round(x / q), q), x)


def _escape(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class Generator:
    """The whole data set of a ``Spec``; iterate ``chunks()`` or ``batches()``."""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.templates = wl.templates()
        rng = np.random.default_rng([spec.seed, 0])
        sizes = np.array([len(t.rows) for t in self.templates], dtype=np.float64)
        mean_size = (1 - spec.node_share) * sizes[0] + spec.node_share * sizes[1]
        self.n_targets = n = max(1, round(spec.series / mean_size))
        n_node = round(n * spec.node_share) if n > 1 else 0
        slot_tpl = rng.permutation(np.r_[np.zeros(n - n_node, np.int64), np.ones(n_node, np.int64)])

        # Churn schedule: incarnations (one per target lifetime) with [start, end) rounds.
        every = max(1, round(spec.churn_every_min * 60_000 / spec.interval_ms))
        phase = round(spec.churn_phase_min * 60_000 / spec.interval_ms)
        self.churn_rounds = [r for r in range(phase, spec.rounds, every) if r > 0]
        inc_slot = list(range(n))
        inc_start = [0] * n
        inc_end = [spec.rounds] * n
        current = list(range(n))
        n_churn = min(n, max(1, round(n * spec.churn_fraction))) if spec.churn_fraction > 0 else 0
        for r in self.churn_rounds:
            for s in sorted(rng.choice(n, size=n_churn, replace=False).tolist()):
                inc_end[current[s]] = r
                current[s] = len(inc_slot)
                inc_slot.append(s)
                inc_start.append(r)
                inc_end.append(spec.rounds)
        self.inc_slot = np.array(inc_slot, np.int64)
        self.inc_tpl = slot_tpl[self.inc_slot]
        self.inc_start = np.array(inc_start, np.int64)
        self.inc_end = np.array(inc_end, np.int64)
        n_inc = len(inc_slot)
        # Prometheus spreads targets over the interval by a hash; here a random phase per target.
        self.inc_offset = rng.integers(spec.interval_ms // 20, spec.interval_ms * 19 // 20, n_inc)
        rows_per = sizes.astype(np.int64)[self.inc_tpl]
        self.inc_base = np.r_[0, np.cumsum(rows_per)[:-1]].astype(np.int64)
        self.n_series_total = int(rows_per.sum())
        self._build_labels(rng)

        # Per-series state carried from chunk to chunk, and per-series rate multipliers.
        tmpl_param = [np.array([[r.kind, r.a, r.b, r.c] for r in t.rows]) for t in self.templates]
        params = np.concatenate([tmpl_param[t] for t in self.inc_tpl.tolist()])
        # Metric family per series, for writers that group samples by family (OpenMetrics).
        self.families = list(dict.fromkeys((r.family, r.mtype) for t in self.templates for r in t.rows))
        fam_index = {f: i for i, (f, _) in enumerate(self.families)}
        tmpl_fam = [np.array([fam_index[r.family] for r in t.rows], np.int32) for t in self.templates]
        self.series_family = np.concatenate([tmpl_fam[t] for t in self.inc_tpl.tolist()])
        kind, init, quantum = params[:, 0], params[:, 3], params[:, 2]
        inc_scale = np.exp(rng.normal(0.0, 0.3, n_inc))
        self.scale = np.repeat(inc_scale, rows_per) * np.exp(rng.normal(0.0, 0.2, self.n_series_total))
        u = rng.uniform(0.5, 1.5, self.n_series_total)
        is_counter = kind == wl.COUNTER
        self.cum = np.where(is_counter, np.round(init * u / np.where(is_counter, quantum, 1.0)), 0.0)
        self.gauge = np.where(kind == wl.GAUGE_AR, params[:, 1] * u ** 0.1, 0.0)
        # Start times: pods started seconds before their first scrape, nodes days before.
        first_ms = self.spec.start_ms + self.inc_start * spec.interval_ms + self.inc_offset
        self.last_ts = first_ms - spec.interval_ms  # so the first scrape aligns to the target's phase
        lead = np.where(self.inc_tpl == 1, rng.uniform(86400, 30 * 86400, n_inc), rng.uniform(2, 20, n_inc))
        self.proc_start = np.round((first_ms / 1000.0 - lead) * 100.0) / 100.0
        self._initial_state = (self.cum, self.gauge, self.proc_start, self.last_ts)

    # -- labels ------------------------------------------------------------------------------------
    def _build_labels(self, rng: np.random.Generator) -> None:
        alphabet = np.array(list("bcdfghjklmnpqrstvwxz2456789"))
        dicts: list[dict[str, str]] = []
        for i in range(len(self.inc_slot)):
            tpl = self.templates[int(self.inc_tpl[i])]
            a, b, c = rng.integers(0, 256, 3).tolist()
            if tpl.job == "node":
                target = {"job": "node", "instance": f"ip-10-1-{a}-{b}.eu-west-1.compute.internal:9100"}
            else:
                rs = "".join(rng.choice(alphabet, 10))
                pod = "".join(rng.choice(alphabet, 5))
                target = {"job": "api", "namespace": "shop", "pod": f"api-{rs}-{pod}",
                          "instance": f"10.2.{a}.{b}:8080", "zone": f"eu-west-1{'abc'[c % 3]}"}
            for row in tpl.rows:
                dicts.append({"__name__": row.name, **target, **dict(row.labels)})
        self.label_dicts = dicts
        self.om_series = pa.array(
            [d["__name__"] + "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in d.items() if k != "__name__")
             + "}" for d in dicts], pa.string())
        counts = np.array([len(d) for d in dicts], np.int64)
        self.label_offsets = np.r_[0, np.cumsum(counts)].astype(np.int64)
        self.label_names = pa.array([k for d in dicts for k in d], pa.string())
        self.label_values = pa.array([v for d in dicts for v in d.values()], pa.string())

    def label_set(self, gids: np.ndarray) -> LabelSet:
        starts, ends = self.label_offsets[gids], self.label_offsets[gids + 1]
        counts = ends - starts
        series = np.repeat(np.arange(len(gids), dtype=np.int32), counts)
        pair = np.arange(int(counts.sum()), dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
        take = pa.array(starts[series] + pair)
        return LabelSet(gids, series, self.label_names.take(take), self.label_values.take(take),
                        [self.label_dicts[g] for g in gids.tolist()])

    # -- samples -----------------------------------------------------------------------------------
    def chunk_bounds(self) -> list[tuple[int, int]]:
        cuts = sorted({0, self.spec.rounds, *range(0, self.spec.rounds, CHUNK_MAX_ROUNDS), *self.churn_rounds})
        return list(itertools.pairwise(cuts))

    def chunks(self) -> Iterator[Chunk]:
        """All chunks in time order, from the start each call (counters carry state along)."""
        cum, gauge, proc_start, last_ts = self._initial_state
        self.cum, self.gauge, self.proc_start, self.last_ts = cum.copy(), gauge.copy(), proc_start.copy(), last_ts.copy()
        for ci, (r0, r1) in enumerate(self.chunk_bounds()):
            parts = [self._template_chunk(ci, t, r0, r1) for t in range(len(self.templates))]
            parts = [p for p in parts if p[0].size]
            yield Chunk(r0, r1, np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]),
                        np.concatenate([p[2] for p in parts]))

    def batches(self, rounds_per_batch: int = 1, from_round: int = 0) -> Iterator[Batch]:
        """Samples in time order, ``rounds_per_batch`` scrape rounds of every target per batch."""
        labels: LabelSet | None = None
        for ch in self.chunks():
            if ch.r1 <= from_round:
                continue
            if labels is None or not np.array_equal(labels.gids, ch.gids):
                labels = self.label_set(ch.gids)
            n_series = len(ch.gids)
            for a in range(max(ch.r0, from_round), ch.r1, rounds_per_batch):
                b = min(a + rounds_per_batch, ch.r1)
                ts = ch.ts[:, a - ch.r0:b - ch.r0].T.ravel()
                order = np.argsort(ts, kind="stable")
                idx = np.tile(np.arange(n_series, dtype=np.int32), b - a)[order]
                yield Batch(labels, idx, ts[order], ch.values[:, a - ch.r0:b - ch.r0].T.ravel()[order])

    def _template_chunk(self, ci: int, t: int, r0: int, r1: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        spec, tpl = self.spec, self.templates[t]
        incs = np.flatnonzero((self.inc_tpl == t) & (self.inc_start <= r0) & (self.inc_end >= r1))
        n, m, n_rounds = len(incs), len(tpl.rows), r1 - r0
        rng = np.random.default_rng([spec.seed, 1 + ci, t])
        ts = self._timestamps(rng, incs, r0, r1)
        p_restart = spec.restarts_per_target_day * spec.interval_ms / (24 * HOUR_MS)
        restart = rng.random((n, n_rounds)) < p_restart
        gids = self.inc_base[incs, None] + np.arange(m)
        vals = np.zeros((n, m, n_rounds))
        p = np.array([[r.kind, r.a, r.b, r.c, r.d, r.group, r.pos] for r in tpl.rows])
        kind = p[:, 0].astype(np.int64)
        dt = spec.interval_ms / 1000.0

        rows = np.flatnonzero(kind == wl.COUNTER)
        if rows.size:
            g = gids[:, rows]
            lam = p[rows, 1] * self.scale[g] * dt / p[rows, 2]
            ticks = rng.poisson(lam[..., None] * np.ones(n_rounds)).astype(np.float64)
            resets = restart[:, None, :] & (p[rows, 4] > 0)[None, :, None]
            total = _cum_with_resets(self.cum[g], ticks, resets)
            self.cum[g] = total[..., -1]
            vals[:, rows] = _from_ticks(total, p[rows, 2][None, :, None])

        rows = np.flatnonzero(kind == wl.GAUGE_AR)
        if rows.size:
            g = gids[:, rows]
            mean, sd, quantum, phi = (p[rows, k] for k in (1, 2, 3, 4))
            x = self.gauge[g]
            shocks = rng.normal(0.0, 1.0, (n_rounds, n, len(rows))) * sd
            walk = np.empty((n, len(rows), n_rounds))
            for r in range(n_rounds):  # an AR(1) recursion: one vectorized step per scrape round
                x = mean + phi * (x - mean) + shocks[r]
                walk[..., r] = x
            self.gauge[g] = x
            vals[:, rows] = np.maximum(_quantize(walk, quantum[None, :, None]), 0.0)

        rows = np.flatnonzero(kind == wl.GAUGE_CONST)
        vals[:, rows] = p[rows, 1][None, :, None]

        rows = np.flatnonzero(kind == wl.GAUGE_NOISE)
        if rows.size:
            sig = p[rows, 2][None, :, None]
            vals[:, rows] = p[rows, 1][None, :, None] * np.exp(rng.normal(0.0, 1.0, (n, len(rows), n_rounds))
                                                                * sig - sig * sig / 2)

        rows = np.flatnonzero(kind == wl.GAUGE_START)
        if rows.size:
            fresh = np.round((ts / 1000.0 - rng.uniform(1.0, 10.0, ts.shape)) * 100.0) / 100.0
            started = _ffill(restart, fresh, self.proc_start[incs])
            if (p[rows, 4] > 0).any():
                self.proc_start[incs] = started[:, -1]
            vals[:, rows] = np.where((p[rows, 4] > 0)[None, :, None], started[:, None, :],
                                     self.proc_start[incs, None, None])

        rows = np.flatnonzero(kind == wl.GAUGE_TIME)
        if rows.size:
            # node_time_seconds is read 1-3 ms after the scrape starts, in float nanoseconds.
            ns = ts * 1_000_000 + rng.integers(1_000_000, 3_000_000, ts.shape)
            vals[:, rows] = (ns / 1e9)[:, None, :]

        for gi, obs in enumerate(tpl.groups):
            self._observed(rng, tpl, gi, obs, p, gids, restart, vals, dt)
        return gids.ravel(), np.repeat(ts, m, axis=0), vals.reshape(n * m, n_rounds)

    def _timestamps(self, rng: np.random.Generator, incs: np.ndarray, r0: int, r1: int) -> np.ndarray:
        """Scrape times as Prometheus stores them.

        A scrape starts at the target's phase plus a little scheduling noise, now and then much
        later (a busy scraper). Prometheus (since 2.22, tolerance 2 ms) then stores the time
        ``previous + interval`` instead when the real time is that close to it, so most timestamps
        are perfectly regular and the rest shift the phase.
        """
        spec, n, n_rounds = self.spec, len(incs), r1 - r0
        ideal = spec.start_ms + np.arange(r0, r1, dtype=np.int64) * spec.interval_ms + self.inc_offset[incs, None]
        late = (rng.random((n, n_rounds)) < spec.late_share) * rng.uniform(5.0, 60.0, (n, n_rounds))
        actual = ideal + np.round(rng.normal(0.0, spec.jitter_ms, (n, n_rounds)) + late).astype(np.int64)
        ts = np.empty_like(actual)
        last = self.last_ts[incs]
        for r in range(n_rounds):  # alignment depends on the previous stored time: one step per round
            aligned = last + spec.interval_ms
            last = np.where(np.abs(actual[:, r] - aligned) <= spec.align_tolerance_ms, aligned, actual[:, r])
            ts[:, r] = last
        self.last_ts[incs] = last
        return ts

    def _observed(self, rng: np.random.Generator, tpl: wl.Template, gi: int, obs: wl.Observed,
                  p: np.ndarray, gids: np.ndarray, restart: np.ndarray, vals: np.ndarray, dt: float) -> None:
        """Fill a classic histogram's or a summary's rows for one chunk."""
        kind, group, pos = p[:, 0].astype(np.int64), p[:, 5].astype(np.int64), p[:, 6].astype(np.int64)
        mine = group == gi
        count_row = int(np.flatnonzero(mine & np.isin(kind, [wl.HIST_COUNT, wl.SUMMARY_COUNT]))[0])
        sum_row = int(np.flatnonzero(mine & np.isin(kind, [wl.HIST_SUM, wl.SUMMARY_SUM]))[0])
        n, n_rounds = restart.shape
        lam = obs.rate * self.scale[gids[:, count_row]] * dt
        if obs.bounds:
            law = NormalDist(obs.mu, obs.sigma)
            cdf = np.array([law.cdf(math.log(b)) for b in obs.bounds] + [1.0])
            probs = np.diff(np.r_[0.0, cdf])
            per_bucket = rng.poisson(lam[:, None, None] * probs[None, :, None] * np.ones(n_rounds))
            cum_le = np.cumsum(per_bucket, axis=1).astype(np.float64)  # `le` buckets are cumulative
            bucket_rows = np.flatnonzero(mine & (kind == wl.HIST_BUCKET))
            bucket_rows = bucket_rows[np.argsort(pos[bucket_rows])]
            g = gids[:, bucket_rows]
            total = _cum_with_resets(self.cum[g], cum_le, np.broadcast_to(restart[:, None, :], cum_le.shape))
            self.cum[g] = total[..., -1]
            vals[:, bucket_rows] = total
            observed = cum_le[:, -1, :]
        else:
            observed = rng.poisson(lam[:, None] * np.ones(n_rounds)).astype(np.float64)
            for qrow in np.flatnonzero(mine & (kind == wl.SUMMARY_QUANTILE)):
                q = obs.quantiles[int(pos[qrow])]
                z = -2.6 if q <= 0 else 3.0 if q >= 1 else NormalDist().inv_cdf(q)
                vals[:, qrow] = np.exp(obs.mu + obs.sigma * z + rng.normal(0.0, 0.15, (n, n_rounds)))
        sums = rng.gamma(observed, math.exp(obs.mu + obs.sigma ** 2 / 2))  # shape 0 gives 0
        for row, inc in ((count_row, observed), (sum_row, sums)):
            g = gids[:, row]
            total = _cum_with_resets(self.cum[g], inc, restart)
            self.cum[g] = total[:, -1]
            vals[:, row] = total
