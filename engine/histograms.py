"""Native histogram samples: their value model in the lake, their checks, their place in the head.

A native histogram sample is stored as one row (FORMAT.md, "Native histograms"): the scalar
fields, and each side's buckets as two parallel lists, **absolute** bucket indexes and counts.
The wire's spans + deltas are a compression of exactly that; undoing it at ingest makes adding
two histograms of one schema a merge of sorted lists and reducing a schema an integer shift,
both things SQL engines do with list functions. Counts are DOUBLE: integer histograms are
kept exactly up to 2^53 observations per bucket and every PromQL function computes in floats.

Writers hand the appender a table of ``WRITER_SCHEMA`` (ingest converts from its wire). The
head keeps histograms apart from floats, as Arrow tables, and checks what Prometheus's head
checks: a (series, ts) already held with another value is a duplicate-sample conflict; a
bit-identical one is dropped; a float and a histogram at the same (series, ts) conflict.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from promlake.engine import start_ts
from promlake.engine.errors import DuplicateSampleError, InvalidSeriesError

# Prometheus's counter reset hints (histogram.CounterResetHint), stored by name.
RESET_HINTS = ("unknown", "reset", "not_reset", "gauge")
# Exponential schemas Prometheus accepts, and the one for custom buckets (NHCB).
MIN_SCHEMA, MAX_SCHEMA, CUSTOM_BUCKETS_SCHEMA = -4, 8, -53

_INDEXES = pa.list_(pa.int32())
_COUNTS = pa.list_(pa.float64())

# What a writer hands ``Appender.append_histograms`` (one row per sample, beside the series).
WRITER_SCHEMA = pa.schema(
    [
        ("ts", pa.int64()),
        (start_ts.COLUMN, start_ts.ARROW_TYPE),  # null = unknown
        ("counter_reset_hint", pa.string()),
        ("schema", pa.int32()),
        ("zero_threshold", pa.float64()),
        ("zero_count", pa.float64()),
        ("count", pa.float64()),
        ("sum", pa.float64()),
        ("positive_index", _INDEXES),
        ("positive_count", _COUNTS),
        ("negative_index", _INDEXES),
        ("negative_count", _COUNTS),
        ("custom_values", _COUNTS),
    ]
)
# The lake's rows: the series id, the writer's columns, and the stale flag (a stale marker is
# a histogram whose sum has the StaleNaN bits, as in Prometheus).
HISTOGRAMS_SCHEMA = pa.schema(
    [
        ("series_id", pa.int64()),
        ("ts", pa.int64()),
        (start_ts.COLUMN, start_ts.ARROW_TYPE),
        ("stale", pa.bool_()),
        *((f.name, f.type) for f in WRITER_SCHEMA if f.name not in ("ts", start_ts.COLUMN)),
    ]
)
# The columns that make up a sample's value (what a duplicate must repeat exactly).
VALUE_COLUMNS = tuple(n for n in HISTOGRAMS_SCHEMA.names if n not in ("series_id", "ts", start_ts.COLUMN))

_STALE_BITS = 0x7FF0000000000002


class InvalidHistogramError(InvalidSeriesError):
    """A histogram sample Prometheus would refuse (its message names the first bad one)."""


def validate(table: pa.Table) -> None:
    """Refuse what Prometheus's ValidateHistogram refuses, for the whole table at once."""
    if table.num_rows == 0:
        return
    schema = table.column("schema").to_numpy()
    bad_schema = ~(((schema >= MIN_SCHEMA) & (schema <= MAX_SCHEMA)) | (schema == CUSTOM_BUCKETS_SCHEMA))
    if bad_schema.any():
        raise InvalidHistogramError(
            f"histogram has an invalid schema {int(schema[bad_schema][0])}, "
            f"must be in [{MIN_SCHEMA}, {MAX_SCHEMA}] or {CUSTOM_BUCKETS_SCHEMA}"
        )
    hints = table.column("counter_reset_hint")
    if not pc.all(pc.is_in(hints, value_set=pa.array(RESET_HINTS))).as_py():
        raise InvalidHistogramError(f"counter_reset_hint must be one of {', '.join(RESET_HINTS)}")
    totals = np.zeros(table.num_rows)
    for side in ("positive", "negative"):
        index, counts = table.column(f"{side}_index"), table.column(f"{side}_count")
        n_index = pc.list_value_length(index).to_numpy(zero_copy_only=False)
        n_counts = pc.list_value_length(counts).to_numpy(zero_copy_only=False)
        if (n_index != n_counts).any():
            raise InvalidHistogramError(f"{side} side: bucket indexes and counts differ in number")
        flat = pc.list_flatten(counts).to_numpy(zero_copy_only=False)
        if (flat < 0).any():
            raise InvalidHistogramError(
                f"{side} side: histogram has a bucket whose observation count is negative"
            )
        row = np.repeat(np.arange(table.num_rows), n_counts)
        totals += np.bincount(row, weights=flat, minlength=table.num_rows)
        idx = pc.list_flatten(index).to_numpy(zero_copy_only=False)
        # Indexes must rise strictly within a row (the wire's spans cannot say otherwise).
        same_row = row[1:] == row[:-1]
        if (same_row & (idx[1:] <= idx[:-1])).any():
            raise InvalidHistogramError(f"{side} side: bucket indexes are not strictly increasing")
    zero = table.column("zero_count").to_numpy()
    count = table.column("count").to_numpy()
    if (zero < 0).any():
        raise InvalidHistogramError("histogram has a negative zero bucket count")
    # Prometheus: a histogram's count is at least what its buckets hold. A NaN sum (or count)
    # means observations of NaN, which sit in no bucket, so only the inequality is checked.
    over = (zero + totals) > count * (1 + 1e-12)
    over &= ~stale_mask(table.column("sum").to_numpy())
    if over.any():
        i = int(np.flatnonzero(over)[0])
        raise InvalidHistogramError(
            f"histogram's observation count should be at least the number of observations found in the buckets "
            f"({zero[i] + totals[i]:g} > {count[i]:g})"
        )


def stale_mask(sums: np.ndarray) -> np.ndarray:
    return np.asarray(sums, np.float64).view(np.uint64) == _STALE_BITS


def with_series(rows: pa.Table, sids: np.ndarray) -> pa.Table:
    """A writer's rows (``WRITER_SCHEMA``) as lake rows of the given series ids."""
    extra = {
        "series_id": pa.array(sids, pa.int64()),
        "stale": pa.array(stale_mask(rows.column("sum").to_numpy())),
    }
    return pa.table(
        {n: extra[n] if n in extra else rows.column(n) for n in HISTOGRAMS_SCHEMA.names},
        schema=HISTOGRAMS_SCHEMA,
    )


@dataclass
class HeadHistograms:
    """One head generation's histogram samples, as appended (sorted per batch, not overall)."""

    tables: list[pa.Table]
    n: int = 0
    mint: int = np.iinfo(np.int64).max
    maxt: int = np.iinfo(np.int64).min
    # The series held (sorted) and each one's newest timestamp: a (series, ts) can only be
    # held already if ts is not newer, so in-order writes never search the held rows (as the
    # float head's last_ts does), and float commits for other series never touch them.
    _sids: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    _newest: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))

    @classmethod
    def empty(cls) -> HeadHistograms:
        return cls([])

    def prepare(self, rows: pa.Table) -> pa.Table:
        """The rows to append: sorted by (series, ts), duplicates dropped; raise on conflicts."""
        if rows.num_rows == 0:
            return rows
        df = _frame(rows).with_row_index("_i").sort(["series_id", "ts", "_i"])
        first = df.unique(["series_id", "ts"], keep="first", maintain_order=True)
        if first.height < df.height:
            # Repeats within the batch must repeat the value exactly.
            clash = df.join(first, on=["series_id", "ts"], suffix="_first").filter(_differs("_first"))
            if clash.height:
                _raise(clash)
        fresh = first.drop("_i")
        if self._maybe_held(fresh["series_id"].to_numpy(), fresh["ts"].to_numpy()).any():
            held = _frame(self.table()).select("series_id", "ts", *VALUE_COLUMNS)
            hit = fresh.join(held, on=["series_id", "ts"], how="inner", suffix="_held")
            if hit.height:
                clash = hit.filter(_differs("_held"))
                if clash.height:
                    _raise(clash)
                fresh = fresh.join(hit.select("series_id", "ts"), on=["series_id", "ts"], how="anti")
        return fresh.to_arrow().cast(HISTOGRAMS_SCHEMA)

    def conflicts_with(self, sids: np.ndarray, ts: np.ndarray) -> tuple[int, int] | None:
        """A (series, ts) among the given that already holds a histogram here, if any."""
        maybe = self._maybe_held(sids, ts)
        if not maybe.any():
            return None
        held = _frame(self.table()).select("series_id", "ts")
        asked = pl.DataFrame({"series_id": sids[maybe], "ts": ts[maybe]})
        hit = asked.join(held, on=["series_id", "ts"], how="semi")
        if not hit.height:
            return None
        return int(hit["series_id"][0]), int(hit["ts"][0])

    def _maybe_held(self, sids: np.ndarray, ts: np.ndarray) -> np.ndarray:
        """Which (series, ts) pairs could be held: the series is, and ts is not newer."""
        if not len(self._sids) or not len(sids):
            return np.zeros(len(sids), bool)
        pos = np.minimum(np.searchsorted(self._sids, sids), len(self._sids) - 1)
        return (self._sids[pos] == sids) & (ts <= self._newest[pos])

    def append(self, rows: pa.Table) -> None:
        if rows.num_rows == 0:
            return
        sids, ts_np = rows.column("series_id").to_numpy(), rows.column("ts").to_numpy()
        ids, inverse = np.unique(sids, return_inverse=True)
        newest = np.full(len(ids), np.iinfo(np.int64).min)
        np.maximum.at(newest, inverse, ts_np)
        all_ids = np.union1d(self._sids, ids)
        merged = np.full(len(all_ids), np.iinfo(np.int64).min)
        merged[np.searchsorted(all_ids, self._sids)] = self._newest
        at = np.searchsorted(all_ids, ids)
        merged[at] = np.maximum(merged[at], newest)
        self._sids, self._newest = all_ids, merged
        self.tables.append(rows)
        self.n += rows.num_rows
        ts = rows.column("ts")
        self.mint = min(self.mint, pc.min(ts).as_py())
        self.maxt = max(self.maxt, pc.max(ts).as_py())
        if len(self.tables) > 64:  # bounded per-chunk overhead, as for float samples
            self.tables = [self.table()]

    def table(self) -> pa.Table:
        if not self.tables:
            return HISTOGRAMS_SCHEMA.empty_table()
        if len(self.tables) > 1:
            self.tables = [pa.concat_tables(self.tables).combine_chunks()]
        return self.tables[0]

    def memory_bytes(self) -> int:
        return sum(t.nbytes for t in self.tables)


def _frame(table: pa.Table) -> pl.DataFrame:
    df = pl.from_arrow(table)
    assert isinstance(df, pl.DataFrame)
    return df


def _differs(suffix: str) -> pl.Expr:
    # Polars compares NaN as equal to NaN, as a bit-identical resend needs; the stale flag
    # tells a stale marker from another NaN sum.
    return pl.any_horizontal([pl.col(c).ne_missing(pl.col(c + suffix)) for c in VALUE_COLUMNS])


def _raise(clash: pl.DataFrame) -> None:
    raise DuplicateSampleError(clash.height, int(clash["series_id"][0]), int(clash["ts"][0]))
