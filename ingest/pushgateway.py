"""The Pushgateway's group store: pushed metrics held per grouping key, ingested every round.

Semantics follow Prometheus's Pushgateway 1.x (``handler/push.go``, ``storage/diskmetricstore.go``):

* A group is identified by its grouping key (``job`` plus the labels of the URL path). The
  key's labels override same-named labels of the pushed samples.
* ``PUT`` replaces the whole group, ``POST`` only the metric families it pushes; an empty
  ``PUT`` empties the group, an empty ``POST`` only touches its push time. ``DELETE`` drops it.
* Samples with timestamps are refused; so is a push that makes the whole set inconsistent
  (the same series twice, or one family name with two types across groups). A refused push
  (but not unparsable text, refused before it reaches the store) sets the group's
  ``push_failure_time_seconds``; a stored one its ``push_time_seconds``.
* Histogram/summary families are stored as Pushgateway re-exposes them: ``le``/``quantile``
  values in Go's shortest float form (``1.0`` -> ``1``), bucket and count values truncated
  to integers.

The store lives in memory as one Arrow table (a row per sample; labels as a MAP, already
merged with the grouping key) and in ``<lake>/pushgateway.arrow``, rewritten atomically
(temp file, fsync, rename, fsync of the directory) after every change.

``ingest_round`` appends every group's samples plus ``push_time_seconds`` and
``push_failure_time_seconds`` at one timestamp through one appender commit, as a Prometheus
scraping the Pushgateway with ``honor_labels: true`` would; series present in the previous
round but gone now (deleted or replaced) get a stale marker, as a scrape writes them.
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from promlake.engine import Lake, SeriesBatch
from promlake.engine.appender import CommitResult
from promlake.engine.blocks import STALE_BITS
from promlake.engine.labels import LABELS_TYPE, long_to_maps
from promlake.ingest import exposition

STATE_FILE = "pushgateway.arrow"
PUSH_TIME = "push_time_seconds"
PUSH_FAILURE_TIME = "push_failure_time_seconds"
PUSH_TIME_HELP = "Last Unix time when changing this group in the Pushgateway succeeded."
PUSH_FAILURE_TIME_HELP = "Last Unix time when changing this group in the Pushgateway failed."
log = logging.getLogger("promlake")
INCONSISTENT = "pushed metrics are invalid or inconsistent with existing metrics"

SCHEMA = pa.schema(
    [
        ("group", pa.string()),  # the grouping key as canonical JSON
        ("family", pa.string()),
        ("type", pa.string()),
        ("help", pa.string()),  # null: no HELP
        ("value", pa.float64()),
        ("labels", LABELS_TYPE),  # all labels of the sample, __name__ included
    ]
)

GroupKey = tuple[tuple[str, str], ...]


class PushError(ValueError):
    """A push the gateway refuses (HTTP 400); ``str()`` is Pushgateway's message."""


@dataclass
class Group:
    labels: GroupKey  # sorted (name, value) pairs, job included
    push_time: float = 0.0
    failure_time: float = 0.0

    @property
    def id(self) -> str:
        return group_id(self.labels)


def group_id(labels: GroupKey) -> str:
    return json.dumps([list(p) for p in labels], separators=(",", ":"))


def group_key(labels: dict[str, str]) -> GroupKey:
    return tuple(sorted(labels.items()))


class PushStore:
    """All groups; thread-safe (HTTP handlers push while the ingest thread reads)."""

    def __init__(self, directory: str | Path) -> None:
        self.path = Path(directory) / STATE_FILE
        self._lock = threading.Lock()
        self.groups: dict[GroupKey, Group] = {}
        self.table: pa.Table = SCHEMA.empty_table()
        # What the previous ingestion round wrote: stale markers go to what disappears.
        self._last_ids = np.empty(0, np.int64)
        self._last_series: SeriesBatch | None = None
        self._metadata_sent: set[tuple[str, str, str]] = set()
        self._load()

    # ---- pushes -------------------------------------------------------------------
    def push(self, key: dict[str, str], body: bytes, *, replace: bool, now: float) -> None:
        """PUT (``replace``) or POST ``body`` into the group ``key``; raises on refusal."""
        parsed = exposition.parse(body)  # unparsable: refused before the store sees it
        gkey = group_key(key)
        with self._lock:
            try:
                new = self._rows(gkey, key, parsed)
                self._store(gkey, new, parsed, replace)
            except PushError:
                group = self.groups.setdefault(gkey, Group(gkey))
                group.failure_time = now
                self._save()
                raise
            self.groups.setdefault(gkey, Group(gkey)).push_time = now
            self._save()

    def delete(self, key: dict[str, str]) -> None:
        gkey = group_key(key)
        with self._lock:
            if gkey not in self.groups:
                return
            del self.groups[gkey]
            gid = group_id(gkey)
            self.table = self.table.filter(pc.not_equal(self.table.column("group"), gid))
            self._save()

    def _rows(self, gkey: GroupKey, key: dict[str, str], parsed: exposition.Exposition) -> pa.Table:
        if parsed.has_timestamp.any():
            raise PushError(f"{INCONSISTENT}: pushed metrics must not have timestamps")
        n = parsed.n_samples
        series = parsed.series
        # The gateway's own per-group gauges win over pushed ones of the same name.
        own = pc.is_in(parsed.family, pa.array([PUSH_TIME, PUSH_FAILURE_TIME])).to_numpy(zero_copy_only=False)
        # Grouping-key labels override the pushed ones.
        keep = ~pc.is_in(series.names, pa.array(list(key), pa.string())).to_numpy(zero_copy_only=False)
        k = len(key)
        idx = np.concatenate([series.label_series[keep], np.repeat(np.arange(n, dtype=np.int32), k)])
        names = pa.concat_arrays([series.names.filter(pa.array(keep)), pa.array(list(key) * n, pa.string())])
        values = pa.concat_arrays(
            [series.values.filter(pa.array(keep)), pa.array(list(key.values()) * n, pa.string())]
        )
        values_np = parsed.values.copy()
        fam_types = {name: f.type for name, f in parsed.families.items()}
        families = parsed.family
        enc = pc.dictionary_encode(families)
        dict_names = enc.dictionary.to_pylist()
        types = pa.array([fam_types[f] for f in dict_names], pa.string()).take(enc.indices)
        helps = pa.array([parsed.families[f].help for f in dict_names], pa.string()).take(enc.indices)
        names, values, values_np = _as_exposed(idx, names, values, values_np, parsed.metric, families, types)
        maps = _maps(idx, names, values, n)
        table = pa.table(
            {
                "group": pa.array([group_id(gkey)] * n, pa.string()),
                "family": families,
                "type": types,
                "help": helps,
                "value": values_np,
                "labels": maps,
            },
            schema=SCHEMA,
        )
        return table.filter(pa.array(~own))

    def _store(self, gkey: GroupKey, new: pa.Table, parsed: exposition.Exposition, replace: bool) -> None:
        gid = group_id(gkey)
        mine = pc.equal(self.table.column("group"), gid)
        if replace:
            drop = mine
        else:
            pushed = pc.unique(new.column("family"))
            drop = pc.and_(mine, pc.is_in(self.table.column("family"), pushed))
        candidate = pa.concat_tables([self.table.filter(pc.invert(drop)), new])
        _check_consistent(candidate, len(candidate) - len(new))
        self.table = candidate

    # ---- ingestion ------------------------------------------------------------------
    def ingest_round(self, lake: Lake, now_ms: int) -> CommitResult:
        """Append every group at ``now_ms`` (one commit), stale markers for vanished series."""
        with self._lock:
            table = self.table
            groups = list(self.groups.values())
        if not groups and self._last_series is None:
            return CommitResult(0, 0, 0, 0)
        series, values = _round_batch(table, groups)
        ids = series.series_ids()
        ids, first = np.unique(ids, return_index=True)  # a series exposed twice: keep the first
        app = lake.appender()
        if len(first):
            first = np.sort(first)
            app.append(series, first, np.full(len(first), now_ms, np.int64), values[first])
        if self._last_series is not None and len(self._last_ids):
            gone = ~np.isin(self._last_ids, ids)
            if gone.any():
                last_ids_all = self._last_series.series_ids()
                rows = np.flatnonzero(np.isin(last_ids_all, self._last_ids[gone]))
                _, pick = np.unique(last_ids_all[rows], return_index=True)
                rows = rows[pick]
                stale = np.full(len(rows), np.uint64(STALE_BITS).view(np.float64))
                app.append(self._last_series, rows, np.full(len(rows), now_ms, np.int64), stale)
        fams = _metadata(table, bool(groups))
        for meta in fams - self._metadata_sent:
            app.set_metadata(*meta)
        result = app.commit()
        self._metadata_sent |= fams
        self._last_ids, self._last_series = ids, series
        return result

    # ---- persistence ----------------------------------------------------------------
    def _save(self) -> None:
        meta = json.dumps(
            [
                {
                    "labels": [list(p) for p in g.labels],
                    "push_time": g.push_time,
                    "failure_time": g.failure_time,
                }
                for g in self.groups.values()
            ]
        )
        table = self.table.replace_schema_metadata({"groups": meta})
        tmp = self.path.with_name(self.path.name + ".tmp")
        with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)
        dfd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)

    def _load(self) -> None:
        if not self.path.exists():
            return
        with pa.memory_map(str(self.path)) as source:
            table = pa.ipc.open_file(source).read_all()
        groups = json.loads((table.schema.metadata or {}).get(b"groups", b"[]"))
        for g in groups:
            key = tuple((str(n), str(v)) for n, v in g["labels"])
            self.groups[key] = Group(key, float(g["push_time"]), float(g["failure_time"]))
        self.table = table.replace_schema_metadata(None).cast(SCHEMA)


# --------------------------------------------------------------------------------------


def _maps(idx: np.ndarray, names: pa.Array, values: pa.Array, n: int) -> pa.MapArray:
    return long_to_maps(idx, names, values, n)


def _as_exposed(
    idx: np.ndarray,
    names: pa.Array,
    values: pa.Array,
    sample_values: np.ndarray,
    metric: pa.Array,
    family: pa.Array,
    types: pa.Array,
) -> tuple[pa.Array, pa.Array, np.ndarray]:
    """Histograms and summaries as Pushgateway re-exposes them (through its protobufs)."""
    is_hist = pc.equal(types, "histogram").to_numpy(zero_copy_only=False)
    is_summ = pc.equal(types, "summary").to_numpy(zero_copy_only=False)
    if not (is_hist.any() or is_summ.any()):
        return names, values, sample_values
    # Bucket and count values are uint64 there.
    integral = is_hist & (
        pc.equal(metric, pc.binary_join_element_wise(family, "_bucket", "")).to_numpy(zero_copy_only=False)
        | pc.equal(metric, pc.binary_join_element_wise(family, "_count", "")).to_numpy(zero_copy_only=False)
    ) | (
        is_summ
        & pc.equal(metric, pc.binary_join_element_wise(family, "_count", "")).to_numpy(zero_copy_only=False)
    )
    out = sample_values.copy()
    with np.errstate(invalid="ignore"):
        fix = integral & np.isfinite(out)
        out[fix] = np.trunc(out[fix])
    # le / quantile in Go's shortest 'g' form.
    special = (pc.equal(names, "le").to_numpy(zero_copy_only=False) & is_hist[idx]) | (
        pc.equal(names, "quantile").to_numpy(zero_copy_only=False) & is_summ[idx]
    )
    if special.any():
        enc = pc.dictionary_encode(values.filter(pa.array(special)))
        canon = pa.array([go_float(float(v)) for v in enc.dictionary.to_pylist()], pa.string())
        new_special = canon.take(enc.indices)
        pos = np.flatnonzero(special)
        order = np.concatenate([np.flatnonzero(~special), pos])
        merged = pa.concat_arrays([values.filter(pa.array(~special)), new_special])
        inverse = np.empty_like(order)
        inverse[order] = np.arange(len(order))
        values = merged.take(pa.array(inverse))
    return names, values, out


def go_float(f: float) -> str:
    """Go's ``strconv.FormatFloat(f, 'g', -1, 64)`` as expfmt writes floats (``+Inf``)."""
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "+Inf" if f > 0 else "-Inf"
    if f == 0:
        return "-0" if math.copysign(1, f) < 0 else "0"
    sign, digits, exponent = Decimal(repr(f)).as_tuple()
    ds = "".join(map(str, digits)).rstrip("0") or "0"
    dp = len(digits) + int(exponent)  # decimal point position relative to the digits
    exp = dp - 1
    prefix = "-" if sign else ""
    if exp < -4 or exp >= 6:  # shortest formatting decides with precision 6
        mant = ds[0] + ("." + ds[1:] if len(ds) > 1 else "")
        return f"{prefix}{mant}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if dp <= 0:
        return f"{prefix}0.{'0' * -dp}{ds}"
    if dp >= len(ds):
        return f"{prefix}{ds}{'0' * (dp - len(ds))}"
    return f"{prefix}{ds[:dp]}.{ds[dp:]}"


def _check_consistent(table: pa.Table, first_new: int) -> None:
    """Refuse duplicates and type conflicts, as the Pushgateway's gathering check does."""
    if first_new >= len(table):
        return
    series = _batch(table.column("labels"))
    ids = series.series_ids()
    _, first = np.unique(ids, return_index=True)
    dup = np.ones(len(ids), bool)
    dup[first] = False
    if dup.any():
        row = int(np.flatnonzero(dup)[0])
        labels = _render(table.column("labels")[row].as_py())
        raise PushError(
            f"{INCONSISTENT}: collected metric {labels} was collected before with the same name and label values"
        )
    types = table.select(["family", "type"]).group_by("family").aggregate([("type", "count_distinct")])
    bad = types.filter(pc.greater(types.column("type_count_distinct"), 1))
    if len(bad):
        fam = bad.column("family")[0].as_py()
        new = table.slice(first_new).filter(pc.equal(table.slice(first_new).column("family"), fam))
        new_type = new.column("type")[0].as_py() if len(new) else ""
        rows = table.filter(
            pc.and_(pc.equal(table.column("family"), fam), pc.not_equal(table.column("type"), new_type))
        )
        labels = _render(rows.column("labels")[0].as_py())
        raise PushError(f"{INCONSISTENT}: collected metric {labels} is not a {new_type.upper()}")


def _render(pairs: list[tuple[str, str]]) -> str:
    d = dict(pairs)
    name = d.pop("__name__", "")
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(d.items()))
    return f'"{name}" {{{inner}}}'


def _batch(maps: pa.ChunkedArray | pa.Array) -> SeriesBatch:
    if isinstance(maps, pa.ChunkedArray):
        maps = maps.combine_chunks() if maps.num_chunks else pa.array([], LABELS_TYPE)
    n = len(maps)
    offsets = maps.offsets.to_numpy()
    lengths = np.diff(offsets)
    keys = maps.keys.slice(offsets[0], offsets[-1] - offsets[0]) if n else pa.array([], pa.string())
    items = maps.items.slice(offsets[0], offsets[-1] - offsets[0]) if n else pa.array([], pa.string())
    idx = np.repeat(np.arange(n, dtype=np.int32), lengths)
    return SeriesBatch.from_arrow(idx, keys, items, n)


def _round_batch(table: pa.Table, groups: list[Group]) -> tuple[SeriesBatch, np.ndarray]:
    """All samples plus both per-group gauges as one batch (one series per row)."""
    samples = _batch(table.column("labels"))
    n = samples.n_series
    g_idx: list[int] = []
    g_names: list[str] = []
    g_values: list[str] = []
    g_samples: list[float] = []
    for i, g in enumerate(groups):  # per group, not per sample
        for j, (metric, value) in enumerate(((PUSH_TIME, g.push_time), (PUSH_FAILURE_TIME, g.failure_time))):
            row = n + 2 * i + j
            pairs = [("__name__", metric), *g.labels]
            g_idx += [row] * len(pairs)
            g_names += [p[0] for p in pairs]
            g_values += [p[1] for p in pairs]
            g_samples.append(value)
    idx = np.concatenate([samples.label_series, np.asarray(g_idx, np.int32)]).astype(np.int32)
    names = pa.concat_arrays([samples.names, pa.array(g_names, pa.string())])
    values = pa.concat_arrays([samples.values, pa.array(g_values, pa.string())])
    batch = SeriesBatch.from_arrow(idx, names, values, n + 2 * len(groups))
    vals = np.concatenate([table.column("value").to_numpy(), np.asarray(g_samples, np.float64)])
    return batch, vals


def _metadata(table: pa.Table, any_group: bool) -> set[tuple[str, str, str]]:
    fams = table.select(["family", "type", "help"]).group_by(["family", "type"]).aggregate([("help", "max")])
    out = {
        (f, t, h or "")
        for f, t, h in zip(
            fams.column("family").to_pylist(),
            fams.column("type").to_pylist(),
            fams.column("help_max").to_pylist(),
            strict=True,
        )
    }
    if any_group:
        out |= {(PUSH_TIME, "gauge", PUSH_TIME_HELP), (PUSH_FAILURE_TIME, "gauge", PUSH_FAILURE_TIME_HELP)}
    return out


class PushIngester(threading.Thread):
    """Runs ``ingest_round`` every ``interval_s()`` seconds (the global scrape_interval)."""

    def __init__(self, store: PushStore, lake: Lake, interval_s: Callable[[], float]) -> None:
        super().__init__(name="pushgateway-ingest", daemon=True)
        self.store, self.lake, self.interval_s = store, lake, interval_s
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(self.interval_s()):
            try:
                self.store.ingest_round(self.lake, int(time.time() * 1000))
            except Exception:  # keep going; the next round may succeed
                log.exception("ingesting pushed groups failed")
