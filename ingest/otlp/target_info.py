"""``target_info``: one series per resource for its non-identifying attributes, as Prometheus 3
writes it (value 1 from the resource's earliest point to its latest, one sample per half
lookback delta, so a query at any time in between finds one)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from ._labels import Labels, TranslationError, fold_collisions, sanitize_keys
from .batch import EMPTY_STRINGS, I64, OtlpBatch, Points

TARGET_INFO = "target_info"
IDENTIFYING = ("service.namespace", "service.name", "service.instance.id")
TARGET_INFO_INTERVAL_NS = 150 * 10**9  # lookback delta (5m) / 2
MAX_TARGET_INFO_SAMPLES = 1_000_000  # per request (see target_info)


def target_info(
    batch: OtlpBatch, job: list[str], instance: list[str], metric_all: I64, groups: list[Points]
) -> tuple[Labels, I64]:
    """One ``target_info`` series per resource with non-identifying attributes and a job or
    instance, with samples from the resource's earliest to latest timestamp."""
    n = batch.n_resources
    if not n:
        return Labels(np.zeros(0, np.int64), EMPTY_STRINGS, EMPTY_STRINGS, 0), np.zeros(0, np.int64)
    t_all = np.concatenate([p.time_ns for p in groups]).astype(np.uint64)
    res = batch.metric_resource[metric_all] if metric_all.size else metric_all
    lo = np.full(n, np.iinfo(np.uint64).max, np.uint64)
    hi = np.zeros(n, np.uint64)
    np.minimum.at(lo, res, t_all)
    np.maximum.at(hi, res, t_all)
    a = batch.resource_attrs
    ident = np.isin(np.asarray(a.keys.to_pylist(), object), IDENTIFYING) if len(a) else np.zeros(0, np.bool_)
    nonident = np.bincount(a.owner[~ident], minlength=n)
    keep = ~ident
    owner = a.owner[keep]
    keys = a.keys.filter(pa.array(keep)) if len(a) else EMPTY_STRINGS
    values = a.values.filter(pa.array(keep)) if len(a) else EMPTY_STRINGS
    lab = fold_collisions(owner, sanitize_keys(keys), keys, values)
    per_res: list[dict[str, str]] = [{} for _ in range(n)]
    for o, k, v in zip(lab.owner.tolist(), lab.names.to_pylist(), lab.values.to_pylist(), strict=True):
        per_res[o][k] = v
    # Per resource (a handful per request): its label set, numbered, and its sample times.
    set_ids: dict[frozenset[tuple[str, str]], int] = {}
    sets: list[dict[str, str]] = []
    set_of: list[np.ndarray] = []
    times: list[np.ndarray] = []
    total = 0
    for r in range(n):
        if not nonident[r] or lo[r] > hi[r]:
            continue
        labels = {k: v for k, v in per_res[r].items() if v != ""}
        if job[r]:
            labels["job"] = job[r]
        if instance[r]:
            labels["instance"] = instance[r]
        if "job" not in labels and "instance" not in labels:
            continue
        labels["__name__"] = TARGET_INFO
        # Prometheus writes one sample per half lookback delta from the earliest point to the
        # latest; a request whose points span ages would make that unbounded (it would exhaust
        # memory in Prometheus too), so it is refused past a generous bound.
        total += int((hi[r] - lo[r]) // np.uint64(TARGET_INFO_INTERVAL_NS)) + 2
        if total > MAX_TARGET_INFO_SAMPLES:
            raise TranslationError(
                f"resource points span too long a time for target_info: more than "
                f"{MAX_TARGET_INFO_SAMPLES} samples at one per {TARGET_INFO_INTERVAL_NS // 10**9}s"
            )
        key = frozenset(labels.items())
        if key not in set_ids:
            set_ids[key] = len(sets)
            sets.append(labels)
        steps = np.arange(int(lo[r]), int(hi[r]), TARGET_INFO_INTERVAL_NS, dtype=np.uint64)
        tms = np.append(steps // np.uint64(1_000_000), np.uint64(int(hi[r]) // 1_000_000)).astype(np.int64)
        times.append(tms)
        set_of.append(np.full(tms.size, set_ids[key], np.int64))
    if not times:
        return Labels(np.zeros(0, np.int64), EMPTY_STRINGS, EMPTY_STRINGS, 0), np.zeros(0, np.int64)
    # One sample per (label set, ms), the first written (resources sharing a label set, or
    # steps landing in one millisecond), each its own one-sample series as elsewhere here.
    set_all, ts_all = np.concatenate(set_of), np.concatenate(times)
    _, first = np.unique(np.stack([set_all, ts_all]), axis=1, return_index=True)
    first.sort()
    kept_set, kept_ts = set_all[first], ts_all[first]
    n_labels = np.array([len(d) for d in sets], np.int64)
    flat_names = pa.array([k for d in sets for k in d], pa.string())
    flat_values = pa.array([v for d in sets for v in d.values()], pa.string())
    counts = n_labels[kept_set]
    owner = np.repeat(np.arange(kept_set.size, dtype=np.int64), counts)
    within = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    gather = pa.array(np.repeat((np.cumsum(n_labels) - n_labels)[kept_set], counts) + within)
    return Labels(owner, flat_names.take(gather), flat_values.take(gather), kept_set.size), kept_ts
