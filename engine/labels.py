"""Label sets in columnar (long) form: the unit in which series travel through the engine.

A ``SeriesBatch`` holds N label sets as three parallel columns (series index, label name,
label value), one row per label. Writers decode straight into this shape (remote write,
scrape, OTLP), so the engine never needs a Python object per series on the ingest path.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from promlake.engine import series_id as _sid
from promlake.engine.errors import InvalidSeriesError

METRIC_NAME = "__name__"

# The Arrow type of a label set in the lake (series/ files): a MAP that DuckDB, Spark and
# Trino all read natively.
LABELS_TYPE = pa.map_(pa.string(), pa.string())

LABEL_TABLE_SCHEMA = pa.schema(
    [("series_id", pa.int64()), ("name", pa.string()), ("value", pa.string())]
)


@dataclass(frozen=True, eq=False)
class SeriesBatch:
    """N label sets in long form. Row i: series ``label_series[i]`` has ``names[i]=values[i]``."""

    n_series: int
    label_series: np.ndarray
    names: pa.Array
    values: pa.Array
    # Memoized (canonical bytes, ids, check hashes): a frozen dataclass can still fill a dict.
    _memo: dict[str, object] = field(default_factory=dict, repr=False)

    @classmethod
    def from_arrow(
        cls, series_index: np.ndarray, names: pa.Array, values: pa.Array, n_series: int
    ) -> SeriesBatch:
        idx = np.asarray(series_index, dtype=np.int32)
        if len(idx) != len(names) or len(names) != len(values):
            raise InvalidSeriesError("label columns have different lengths")
        if len(idx) and (idx.min() < 0 or idx.max() >= n_series):
            raise InvalidSeriesError("label row refers to a series outside the batch")
        names = _as_string(names)
        values = _as_string(values)
        if names.null_count or pc.any(pc.equal(pc.utf8_length(names), 0)).as_py():
            raise InvalidSeriesError("empty label name")
        return cls(n_series, idx, names, values)

    @classmethod
    def from_dicts(cls, label_sets: Sequence[Mapping[str, str]]) -> SeriesBatch:
        """Build from Python dicts: for tests, rules and other small, non-hot paths."""
        counts = np.fromiter((len(ls) for ls in label_sets), dtype=np.int64, count=len(label_sets))
        idx = np.repeat(np.arange(len(label_sets), dtype=np.int32), counts)
        names = pa.array([k for ls in label_sets for k in ls], type=pa.string())
        values = pa.array([v for ls in label_sets for v in ls.values()], type=pa.string())
        return cls.from_arrow(idx, names, values, len(label_sets))

    def _canonical(self) -> pa.Array:
        canon = self._memo.get("canon")
        if canon is None:
            canon = _sid.canonical_label_bytes(self.label_series, self.names, self.values, self.n_series)
            self._memo["canon"] = canon
        return canon

    def series_ids(self) -> np.ndarray:
        """The stable 64-bit id of every label set (computed once, vectorized)."""
        ids = self._memo.get("ids")
        if ids is None:
            ids = _sid.xxh64(self._canonical()).view(np.int64)
            self._memo["ids"] = ids
        return ids  # type: ignore[return-value]

    def check_hashes(self) -> np.ndarray:
        """A second, independent 64-bit hash per label set, used to detect id collisions."""
        checks = self._memo.get("checks")
        if checks is None:
            checks = _sid.xxh64(self._canonical(), seed=COLLISION_CHECK_SEED).view(np.int64)
            self._memo["checks"] = checks
        return checks  # type: ignore[return-value]

    def label_table(self) -> pa.Table:
        """Rows (series_id, name, value) without empty values (Prometheus: empty means absent)."""
        ids = self.series_ids()
        keep = pc.not_equal(self.values, "")
        return pa.table(
            {
                "series_id": pa.array(ids[self.label_series]).filter(keep),
                "name": self.names.filter(keep),
                "value": self.values.filter(keep),
            },
            schema=LABEL_TABLE_SCHEMA,
        )

    def take(self, series: np.ndarray) -> SeriesBatch:
        """The sub-batch of the given series indices, renumbered 0..len(series)-1."""
        remap = np.full(self.n_series, -1, dtype=np.int32)
        remap[series] = np.arange(len(series), dtype=np.int32)
        new_idx = remap[self.label_series]
        keep = new_idx >= 0
        return SeriesBatch(
            len(series), new_idx[keep], self.names.filter(keep), self.values.filter(keep)
        )

    @classmethod
    def identified(
        cls, ids: np.ndarray, checks: np.ndarray, load: Callable[[np.ndarray], SeriesBatch]
    ) -> SeriesBatch:
        """A batch whose ids and check hashes are already known, with labels decoded only
        when asked for: ``load(series)`` returns the sub-batch of those series (renumbered
        ``0..len(series)-1``, as ``take``). ``ids``/``checks`` must be what ``series_ids()`` /
        ``check_hashes()`` of the loaded labels give (remote write's ``SeriesCache``): the
        engine then reads labels only of series new to it (``take(...).label_table()``)."""
        return _IdentifiedBatch(
            np.ascontiguousarray(ids, np.int64), np.ascontiguousarray(checks, np.int64), load
        )

    def to_dicts(self) -> list[dict[str, str]]:
        """Label sets as dicts (tests and debugging only)."""
        out: list[dict[str, str]] = [{} for _ in range(self.n_series)]
        for i, n, v in zip(
            self.label_series.tolist(), self.names.to_pylist(), self.values.to_pylist(), strict=True
        ):
            if v:
                out[i][n] = v
        return out


class _IdentifiedBatch(SeriesBatch):
    """``SeriesBatch.identified``: ids known up front, label columns loaded on first use."""

    _load: Callable[[np.ndarray], SeriesBatch]

    def __init__(
        self, ids: np.ndarray, checks: np.ndarray, load: Callable[[np.ndarray], SeriesBatch]
    ) -> None:
        # Not the dataclass __init__: the label columns are the properties below.
        object.__setattr__(self, "n_series", len(ids))
        object.__setattr__(self, "_memo", {"ids": ids, "checks": checks})
        object.__setattr__(self, "_load", load)

    def _full(self) -> SeriesBatch:
        full = self._memo.get("full")
        if full is None:
            full = self._load(np.arange(self.n_series, dtype=np.int64))
            self._memo["full"] = full
        return full  # type: ignore[return-value]

    @property
    def label_series(self) -> np.ndarray:
        return self._full().label_series

    @property
    def names(self) -> pa.Array:
        return self._full().names

    @property
    def values(self) -> pa.Array:
        return self._full().values

    def _canonical(self) -> pa.Array:
        return self._full()._canonical()

    def take(self, series: np.ndarray) -> SeriesBatch:
        series = np.asarray(series, np.int64)
        # The sub-batch computes its ids from its labels (only new series are ever taken, so
        # this costs little), so label rows always carry the id their own labels give.
        return super().take(series) if "full" in self._memo else self._load(series)


# Any fixed seed other than the id's own (0) gives an independent hash.
COLLISION_CHECK_SEED = 0x9E3779B97F4A7C15


def _as_string(arr: pa.Array) -> pa.Array:
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    if arr.type != pa.string():
        try:
            arr = arr.cast(pa.string())
        except pa.ArrowInvalid as exc:
            raise InvalidSeriesError(f"label is not valid UTF-8: {exc}") from exc
    return arr


def labels_to_map(table: pa.Table) -> tuple[np.ndarray, pa.MapArray]:
    """Long (series_id, name, value) rows -> (unique series ids, one MAP of labels per id)."""
    if table.num_rows == 0:
        return np.empty(0, np.int64), pa.array([], type=LABELS_TYPE)
    order = pc.sort_indices(table, [("series_id", "ascending"), ("name", "ascending")])
    t = table.take(order)
    sid = t.column("series_id").to_numpy()
    starts = np.flatnonzero(np.r_[True, sid[1:] != sid[:-1]])
    offsets = pa.array(np.r_[starts, len(sid)].astype(np.int32))
    maps = pa.MapArray.from_arrays(
        offsets, t.column("name").combine_chunks(), t.column("value").combine_chunks()
    )
    return sid[starts], maps


def map_to_labels(series_ids: np.ndarray, maps: pa.Array) -> pa.Table:
    """One MAP per series -> long (series_id, name, value) rows."""
    if isinstance(maps, pa.ChunkedArray):
        maps = maps.combine_chunks()
    if not pa.types.is_map(maps.type):
        maps = maps.cast(LABELS_TYPE)
    offsets = maps.offsets.to_numpy()
    lengths = np.diff(offsets)
    keys = maps.keys.slice(offsets[0], offsets[-1] - offsets[0])
    items = maps.items.slice(offsets[0], offsets[-1] - offsets[0])
    return pa.table(
        {
            "series_id": pa.array(np.repeat(np.asarray(series_ids, np.int64), lengths)),
            "name": keys,
            "value": items,
        },
        schema=LABEL_TABLE_SCHEMA,
    )


def long_to_maps(series_index: np.ndarray, names: pa.Array, values: pa.Array, n: int) -> pa.MapArray:
    """Long rows (series index 0..n-1, name, value) -> n MAPs, empty where a series has no rows."""
    idx = np.asarray(series_index, np.int64)
    order = pc.sort_indices(
        pa.table({"i": idx, "n": names}), [("i", "ascending"), ("n", "ascending")]
    )
    counts = np.bincount(idx, minlength=n) if len(idx) else np.zeros(n, np.int64)
    offsets = pa.array(np.r_[0, np.cumsum(counts)].astype(np.int32))
    return pa.MapArray.from_arrays(offsets, names.take(order), values.take(order))
