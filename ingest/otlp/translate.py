"""OTLP metrics to Prometheus series, as Prometheus 3's OTLP receiver translates them by default.

Follows ``storage/remote/otlptranslator/prometheusremotewrite`` with the default settings
(``UnderscoreEscapingWithSuffixes``, no promoted resource attributes, no scope labels, delta
temporality refused, explicit-bucket histograms as classic histograms):

* names get unit and type suffixes (``names.build_metric_name``); attribute keys are sanitized
  (``names.build_label_name``); keys colliding after sanitizing join their values with ``;``;
* ``job`` = ``service.namespace/service.name`` (or ``service.name``), ``instance`` =
  ``service.instance.id``; the other resource attributes go to a ``target_info`` series
  (value 1, at the resource's earliest timestamp, every 2.5 minutes, and its latest);
* gauges and cumulative sums: one sample per point; histograms: ``_bucket{le}`` (cumulative),
  ``_sum`` (when present), ``_count``; summaries: ``{quantile}``, ``_sum``, ``_count``;
* exponential histograms: native histograms (``exp_histograms.convert``), one series per point
  set without ``_bucket``/``_sum``/``_count`` names;
* points flagged "no recorded value" become staleness markers; start times become the
  samples' start timestamps; exemplars of sums and (exponential) histograms are kept.

Per metric and per resource there is Python work; per data point, attribute and sample there
is none.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from promlake.ingest.prompb._wire import ranges_index

from . import exp_histograms as xh
from . import names as nm
from ._labels import Labels, TranslationError, concat_labels, const, fold_collisions, sanitize_keys
from ._values import format_floats, format_go_float
from .batch import (
    EMPTY_STRINGS,
    FLAG_NO_RECORDED_VALUE,
    I64,
    KIND_EXP_HISTOGRAM,
    KIND_GAUGE,
    KIND_HISTOGRAM,
    KIND_NAMES,
    KIND_NONE,
    KIND_SUM,
    KIND_SUMMARY,
    TEMPORALITY_CUMULATIVE,
    Attrs,
    OtlpBatch,
    Points,
)
from .target_info import TARGET_INFO, target_info

STALE_NAN = np.array([0x7FF0000000000002], np.uint64).view(np.float64)[0]
MAX_EXEMPLAR_RUNES = 128


@dataclass
class Translation:
    series: Labels
    sample_series: I64
    ts: I64
    values: np.ndarray
    st: I64
    exemplar_series: I64
    exemplar_ts: I64
    exemplar_values: np.ndarray
    exemplar_labels: Labels
    metadata: list[tuple[str, str, str, str]]  # (family, type, help, unit)
    histogram_series: I64  # native histogram rows' series (exponential histogram points)
    histograms: pa.Table  # engine.histograms.WRITER_SCHEMA
    warnings: list[str] = field(default_factory=list)


def ns_to_ms(ns: np.ndarray) -> I64:
    """Go's ``int64(ns) / 1_000_000`` (truncation toward zero)."""
    v = np.asarray(ns, np.uint64).view(np.int64)
    q = np.abs(v) // 1_000_000
    return np.where(v < 0, -q, q).astype(np.int64)


def _metric_type(kind: int, monotonic: bool) -> int:
    if kind == KIND_GAUGE:
        return nm.GAUGE
    if kind == KIND_SUM:
        return nm.MONOTONIC_COUNTER if monotonic else nm.NON_MONOTONIC_COUNTER
    return {KIND_HISTOGRAM: nm.HISTOGRAM, KIND_EXP_HISTOGRAM: nm.EXP_HISTOGRAM, KIND_SUMMARY: nm.SUMMARY}.get(
        kind, nm.UNKNOWN
    )


def _prom_type(kind: int, monotonic: bool) -> str:
    if kind == KIND_GAUGE:
        return "gauge"
    if kind == KIND_SUM:
        return "counter" if monotonic else "gauge"
    if kind in (KIND_HISTOGRAM, KIND_EXP_HISTOGRAM):
        return "histogram"
    return "summary" if kind == KIND_SUMMARY else "unknown"


@dataclass
class _Derived:
    """Series derived from points: base point, __name__ index, optional extra label."""

    point: list[I64] = field(default_factory=list)
    name: list[I64] = field(default_factory=list)  # metric * 4 + variant
    extra_kind: list[I64] = field(default_factory=list)  # 0 none, 1 le, 2 quantile
    extra_value: list[pa.Array] = field(default_factory=list)
    value: list[np.ndarray] = field(default_factory=list)
    ts: list[np.ndarray] = field(default_factory=list)
    st: list[np.ndarray] = field(default_factory=list)
    count: int = 0

    def add(self, point: I64, name: I64, value: np.ndarray, ts: np.ndarray, st: np.ndarray,
            extra_kind: int = 0, extra_value: pa.Array | None = None) -> I64:  # fmt: skip
        n = point.size
        self.point.append(point)
        self.name.append(name)
        self.extra_kind.append(np.full(n, extra_kind, np.int64))
        self.extra_value.append(extra_value if extra_value is not None else const("", n))
        self.value.append(value)
        self.ts.append(ts)
        self.st.append(st)
        first = self.count
        self.count += n
        return np.arange(first, self.count, dtype=np.int64)


_FAMILY, _SUM, _COUNT, _BUCKET = range(4)


def translate(batch: OtlpBatch) -> Translation:
    errors: list[str] = []
    warnings: list[str] = []
    n_metrics = batch.n_metrics
    names = batch.metric_name.to_pylist()
    units = batch.metric_unit.to_pylist()
    helps = batch.metric_description.to_pylist()
    kinds = batch.metric_kind.tolist()
    temps = batch.metric_temporality.tolist()
    mono = batch.metric_monotonic.tolist()
    n_points = np.zeros(n_metrics, np.int64)
    for pts in (batch.numbers, batch.histograms, batch.summaries, batch.exp_histograms):
        n_points += np.bincount(pts.metric, minlength=n_metrics)

    family: list[str] = []
    metadata: dict[str, tuple[str, str, str, str]] = {}
    for i in range(n_metrics):
        kind, name = kinds[i], names[i]
        if kind == KIND_NONE:
            errors.append(f"unsupported metric type for metric {name!r}")
            family.append("")
            continue
        if kind in (KIND_SUM, KIND_HISTOGRAM, KIND_EXP_HISTOGRAM) and temps[i] != TEMPORALITY_CUMULATIVE:
            errors.append(f"invalid temporality and type combination for metric {name!r}")
            family.append("")
            continue
        try:
            fam = nm.build_metric_name(name, units[i], _metric_type(kind, mono[i]))
        except nm.NameError_ as exc:
            errors.append(str(exc))
            family.append("")
            continue
        family.append(fam)
        if not n_points[i]:
            warnings.append(f"empty data points. {name} is dropped")
            continue
        metadata[fam] = (fam, _prom_type(kind, mono[i]), helps[i], nm.build_unit(units[i]))
    if errors:
        raise TranslationError("; ".join(errors))

    e = batch.exp_histograms
    try:
        exp_rows = xh.convert(batch, ns_to_ms(e.time_ns), ns_to_ms(e.start_ns), warnings)
    except xh.ExpHistogramError as exc:
        raise TranslationError(str(exc)) from None
    job, instance = _resource_identity(batch)
    # All points that carry samples, as one table: numbers, histograms, summaries, exponential.
    groups: list[Points] = [batch.numbers, batch.histograms, batch.summaries, e]
    offs = np.cumsum([0] + [len(p) for p in groups])
    n_all = int(offs[-1])
    metric_all = np.concatenate([p.metric for p in groups]) if n_all else np.zeros(0, np.int64)
    base = _base_labels(groups, offs, metric_all, batch, job, instance)

    name_table = pa.array(
        [x for f in family for x in (f, f + "_sum", f + "_count", f + "_bucket")], pa.string()
    )
    d = _Derived()

    def stale(v: np.ndarray, flags: np.ndarray) -> np.ndarray:
        return np.where((flags & np.uint64(FLAG_NO_RECORDED_VALUE)) != 0, STALE_NAN, v)

    # Gauges and sums.
    p = batch.numbers
    number_series = d.add(
        np.arange(len(p), dtype=np.int64) + offs[0], p.metric * 4 + _FAMILY,
        stale(p.value, p.flags), p.time_ns, p.start_ns,
    )  # fmt: skip

    # Histograms.
    h = batch.histograms
    hg = np.arange(len(h), dtype=np.int64) + offs[1]
    hs = np.flatnonzero(h.has_sum)
    d.add(hg[hs], h.metric[hs] * 4 + _SUM, stale(h.value[hs], h.flags[hs]), h.time_ns[hs], h.start_ns[hs])
    count_f = h.count.astype(np.float64)
    d.add(hg, h.metric * 4 + _COUNT, stale(count_f, h.flags), h.time_ns, h.start_ns)
    nb = np.bincount(batch.bound_point, minlength=len(h))
    nc = np.bincount(batch.bucket_point, minlength=len(h))
    k = np.minimum(nb, nc)
    b_off = np.cumsum(nb) - nb
    c_off = np.cumsum(nc) - nc
    bpos, bpt = ranges_index(b_off, b_off + k)  # bucket i of point p: bounds[b_off[p] + i]
    cpos = c_off[bpt] + (bpos - b_off[bpt])
    cum = np.cumsum(batch.bucket_count[cpos]) if cpos.size else np.zeros(0, np.uint64)
    if cum.size:
        kstart = np.cumsum(k) - k
        before = np.concatenate(([0], cum))[kstart]
        cum = cum - before[bpt]
    bucket_series = d.add(
        hg[bpt], h.metric[bpt] * 4 + _BUCKET, stale(cum.astype(np.float64), h.flags[bpt]),
        h.time_ns[bpt], h.start_ns[bpt], 1, format_floats(batch.bound[bpos], format_go_float),
    )  # fmt: skip
    inf_series = d.add(
        hg, h.metric * 4 + _BUCKET, stale(count_f, h.flags), h.time_ns, h.start_ns, 1, const("+Inf", len(h))
    )

    # Summaries.
    s = batch.summaries
    sg = np.arange(len(s), dtype=np.int64) + offs[2]
    d.add(sg, s.metric * 4 + _SUM, stale(s.value, s.flags), s.time_ns, s.start_ns)
    d.add(sg, s.metric * 4 + _COUNT, stale(s.count.astype(np.float64), s.flags), s.time_ns, s.start_ns)
    qp = batch.quantile_point
    d.add(
        sg[qp], s.metric[qp] * 4 + _FAMILY, stale(batch.quantile_value, s.flags[qp]), s.time_ns[qp],
        s.start_ns[qp], 2, format_floats(batch.quantile, format_go_float),
    )  # fmt: skip

    n_float = d.count  # exponential histograms: a native histogram series per point, last
    exp_series = d.add(np.arange(len(e), dtype=np.int64) + offs[3], e.metric * 4 + _FAMILY,
                       np.zeros(len(e)), e.time_ns, e.start_ns)  # fmt: skip

    n_derived = d.count
    point = np.concatenate(d.point) if n_derived else np.zeros(0, np.int64)
    extra_kind = np.concatenate(d.extra_kind) if n_derived else np.zeros(0, np.int64)
    series_labels = _derive_labels(base, n_all, point, np.concatenate(d.name) if n_derived else point,
                                   extra_kind, pa.concat_arrays(d.extra_value), name_table)  # fmt: skip
    values = np.concatenate(d.value) if n_derived else np.zeros(0)
    ts = ns_to_ms(np.concatenate(d.ts)) if n_derived else np.zeros(0, np.int64)
    st = ns_to_ms(np.concatenate(d.st)) if n_derived else np.zeros(0, np.int64)

    # target_info
    ti_labels, ti_ts = target_info(batch, job, instance, metric_all, groups)
    if ti_ts.size or ti_labels.n:
        metadata.setdefault(TARGET_INFO, (TARGET_INFO, "gauge", "Target metadata", ""))
    n_ti = ti_labels.n
    series = concat_labels(
        [series_labels, Labels(ti_labels.owner + n_derived, ti_labels.names, ti_labels.values, 0)],
        n_derived + n_ti,
    )
    sample_series = np.r_[np.arange(n_float), np.arange(n_ti) + n_derived].astype(np.int64)
    ex = _exemplars(batch, number_series, bucket_series, inf_series, exp_series, k, b_off, ts)
    values = np.concatenate((values[:n_float], np.ones(n_ti)))
    ts = np.concatenate((ts[:n_float], ti_ts))
    st = np.concatenate((st[:n_float], np.zeros(n_ti, np.int64)))
    return Translation(
        series=series,
        sample_series=sample_series,
        ts=ts,
        values=values,
        st=st,
        exemplar_series=ex[0],
        exemplar_ts=ex[1],
        exemplar_values=ex[2],
        exemplar_labels=ex[3],
        metadata=list(metadata.values()),
        histogram_series=exp_series,
        histograms=exp_rows,
        warnings=warnings,
    )


def _resource_identity(batch: OtlpBatch) -> tuple[list[str], list[str]]:
    """``job`` and ``instance`` per resource (one Python step per resource attribute)."""
    n = batch.n_resources
    attrs: list[dict[str, str]] = [{} for _ in range(n)]
    a = batch.resource_attrs
    for o, k, v in zip(a.owner.tolist(), a.keys.to_pylist(), a.values.to_pylist(), strict=True):
        attrs[o].setdefault(k, v)  # pcommon's Map.Get finds the first
    job, instance = [], []
    for r in attrs:
        j = r.get("service.name")
        if j is not None and "service.namespace" in r:
            j = r["service.namespace"] + "/" + j
        job.append(j or "")
        instance.append(r.get("service.instance.id", ""))
    return job, instance


def _base_labels(
    groups: list[Points],
    offs: np.ndarray,
    metric_all: I64,
    batch: OtlpBatch,
    job: list[str],
    instance: list[str],
) -> Labels:
    """Each point's labels without ``__name__``: its sanitized attributes, then job/instance."""
    n_all = int(offs[-1])
    owner = np.concatenate([p.attrs.owner + o for p, o in zip(groups, offs[:-1], strict=True)])
    keys = pa.concat_arrays([p.attrs.keys.cast(pa.string()) for p in groups])
    values = pa.concat_arrays([p.attrs.values.cast(pa.string()) for p in groups])
    keep = np.asarray(pc.not_equal(keys, "__name__").fill_null(True), np.bool_) if len(keys) else owner > 0
    if not keep.all():
        owner, keys, values = owner[keep], keys.filter(pa.array(keep)), values.filter(pa.array(keep))
    lab = fold_collisions(owner, sanitize_keys(keys), keys, values)
    res = batch.metric_resource[metric_all] if n_all else np.zeros(0, np.int64)
    parts = [lab]
    for label, per_res in (("job", job), ("instance", instance)):
        has = np.array([v != "" for v in per_res], np.bool_)
        if not has.any() or not n_all:
            continue
        # The resource's value replaces a data point attribute of the same name.
        cur = parts[0]
        if len(cur.names):
            drop = np.asarray(pc.equal(cur.names, label), np.bool_) & has[res[cur.owner]]
            if drop.any():
                k = pa.array(~drop)
                parts[0] = Labels(cur.owner[~drop], cur.names.filter(k), cur.values.filter(k), 0)
        pts = np.flatnonzero(has[res])
        vals = pa.array(per_res, pa.string()).take(pa.array(res[pts]))
        parts.append(Labels(pts, const(label, pts.size), vals, 0))
    out = concat_labels(parts, n_all)
    order = np.argsort(out.owner, kind="stable")
    t = pa.array(order)
    return Labels(out.owner[order], out.names.take(t), out.values.take(t), n_all)


def _derive_labels(
    base: Labels,
    n_all: int,
    point: I64,
    name_idx: I64,
    extra_kind: I64,
    extra_value: pa.Array,
    name_table: pa.Array,
) -> Labels:
    n = point.size
    counts = np.bincount(base.owner, minlength=n_all)
    off = np.cumsum(counts) - counts
    rows, series = ranges_index(off[point], off[point] + counts[point]) if n else (point, point)
    names = base.names.take(pa.array(rows))
    values = base.values.take(pa.array(rows))
    # le / quantile set by the translator replace a data point attribute of that name.
    ek = extra_kind[series]
    drop = ((ek == 1) & np.asarray(pc.equal(names, "le"), np.bool_)) | (
        (ek == 2) & np.asarray(pc.equal(names, "quantile"), np.bool_)
    ) if len(names) else np.zeros(0, np.bool_)  # fmt: skip
    if drop.any():
        k = pa.array(~drop)
        series, names, values = series[~drop], names.filter(k), values.filter(k)
    ids = np.arange(n, dtype=np.int64)
    xs = np.flatnonzero(extra_kind)
    extra_names = pa.array(["", "le", "quantile"], pa.string()).take(pa.array(extra_kind[xs]))
    return concat_labels(
        [
            Labels(series, names, values, 0),
            Labels(ids, const("__name__", n), name_table.take(pa.array(name_idx)), 0),
            Labels(xs, extra_names, extra_value.take(pa.array(xs)), 0),
        ],
        n,
    )


def _exemplars(batch: OtlpBatch, number_series: I64, bucket_series: I64, inf_series: I64, exp_series: I64,
               k: I64, b_off: I64, ts: I64) -> tuple[I64, I64, np.ndarray, Labels]:  # fmt: skip
    """Exemplars of sums (on the sample's series), histograms (on the bucket their value falls
    in, assigned in order as Prometheus does; the rest on ``+Inf``) and exponential histograms
    (on the native histogram's series). Gauges' are dropped."""
    parts = []
    ne = batch.number_exemplars
    if len(ne):
        is_sum = batch.metric_kind[batch.numbers.metric[ne.point]] == KIND_SUM
        sel = np.flatnonzero(is_sum)
        parts.append((number_series[ne.point[sel]], sel, ne))
    he = batch.histogram_exemplars
    if len(he):
        p = he.point
        # Buckets below the value: pairs (exemplar, bucket of its point).
        bpos, ex = ranges_index(b_off[p], b_off[p] + k[p])
        below = batch.bound[bpos] < he.value[ex]
        first = np.bincount(ex, weights=below, minlength=p.size).astype(np.int64)
        width = int(k.max()) + 2 if k.size else 2
        bucket = np.maximum.accumulate(first + p * width) - p * width  # never go back a bucket
        bstart = np.cumsum(k) - k
        sid = np.where(bucket < k[p], bucket_series[np.minimum(bstart[p] + bucket, max(bucket_series.size - 1, 0))]
                       if bucket_series.size else 0, inf_series[p])  # fmt: skip
        parts.append((sid.astype(np.int64), np.arange(p.size, dtype=np.int64), he))
    xe = batch.exp_exemplars
    if len(xe):
        parts.append((exp_series[xe.point], np.arange(len(xe), dtype=np.int64), xe))
    if not parts:
        empty = np.zeros(0, np.int64)
        return empty, empty, np.zeros(0), Labels(empty, EMPTY_STRINGS, EMPTY_STRINGS, 0)
    series_out, ts_out, val_out, lab_out = [], [], [], []
    base = 0
    for sid, sel, e in parts:
        t = ns_to_ms(e.time_ns[sel])
        t = np.where(t == 0, ts[sid], t)
        series_out.append(sid)
        ts_out.append(t)
        val_out.append(e.value[sel])
        lab_out.append(_exemplar_labels(e.attrs, e.trace_id, e.span_id, sel, base))
        base += sel.size
    n = base
    labels = concat_labels(lab_out, n)
    return np.concatenate(series_out), np.concatenate(ts_out), np.concatenate(val_out), labels


def _exemplar_labels(attrs: Attrs, trace: pa.Array, span: pa.Array, sel: I64, base: int) -> Labels:
    n_all = len(trace)
    pos = np.full(n_all, -1, np.int64)
    pos[sel] = np.arange(sel.size) + base
    tr, sp = trace.take(pa.array(sel)), span.take(pa.array(sel))
    runes = np.zeros(n_all, np.int64)
    if len(attrs):
        lens = np.asarray(pc.utf8_length(attrs.keys), np.int64) + np.asarray(
            pc.utf8_length(attrs.values), np.int64
        )
        runes += np.bincount(attrs.owner, weights=lens, minlength=n_all).astype(np.int64)
    trl = np.asarray(pc.utf8_length(trace), np.int64)
    spl = np.asarray(pc.utf8_length(span), np.int64)
    runes += np.where(trl > 0, trl + 8, 0) + np.where(spl > 0, spl + 7, 0)
    parts = []
    ids = np.arange(sel.size, dtype=np.int64) + base
    for name, arr in (("trace_id", tr), ("span_id", sp)):
        has = np.asarray(pc.greater(pc.utf8_length(arr), 0), np.bool_) if len(arr) else np.zeros(0, np.bool_)
        parts.append(Labels(ids[has], const(name, int(has.sum())), arr.filter(pa.array(has)), 0))
    if len(attrs):
        ok = (pos[attrs.owner] >= 0) & (runes[attrs.owner] <= MAX_EXEMPLAR_RUNES)
        ok &= ~np.asarray(pc.is_in(attrs.keys, value_set=pa.array(["trace_id", "span_id"])), np.bool_)
        m = pa.array(ok)
        parts.append(Labels(pos[attrs.owner[ok]], attrs.keys.filter(m), attrs.values.filter(m), 0))
    return concat_labels(parts, 0)


__all__ = ["KIND_NAMES", "Translation", "TranslationError", "translate"]
