"""The lake is a public format: plain DuckDB (no promlake code) reads what promlake wrote."""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import xxhash

import promlake
from promlake.engine import SeriesBatch

DAY = 86_400_000
FORMAT_MD = (Path(__file__).parents[3] / "engine" / "FORMAT.md").read_text()


def _write_lake(path, *, overlap: bool) -> None:
    lake = promlake.open(path)
    batch = SeriesBatch.from_dicts(
        [
            {"__name__": "up", "job": "node", "instance": "a"},
            {"__name__": "up", "job": "api", "instance": "b"},
        ]
    )
    app = lake.appender()
    ts = np.array([DAY - 1000, DAY - 1000, DAY + 1000, DAY + 1000])
    app.append(batch, np.array([0, 1, 0, 1]), ts, np.array([1.0, 0.0, 1.0, 1.0]))
    app.commit()
    lake.flush()
    if overlap:
        app = lake.appender()
        app.append(batch, np.array([0]), np.array([DAY + 1000]), np.array([7.0]))
        app.commit()
    lake.close()


def test_plain_duckdb_recipe_reads_samples_with_labels(tmp_path):
    _write_lake(tmp_path, overlap=False)
    files = list((tmp_path / "samples").glob("day=*/*.parquet"))
    assert {f.parent.name for f in files} == {"day=1970-01-01", "day=1970-01-02"}
    assert not any(f.name.endswith("_x.parquet") for f in files)
    rows = duckdb.sql(
        f"""
        SELECT s.labels['instance'] AS inst, p.ts, p.value, p.day
        FROM read_parquet('{tmp_path}/samples/*/*.parquet', hive_partitioning = true) AS p
        JOIN (SELECT series_id, any_value(metric) AS metric, any_value(labels) AS labels
              FROM read_parquet('{tmp_path}/series/*/*.parquet') GROUP BY series_id) AS s
        USING (series_id)
        WHERE s.metric = 'up' AND s.labels['job'] = 'node'
        ORDER BY p.ts
        """
    ).fetchall()
    inst = [r[0] if isinstance(r[0], str) else r[0][0] for r in rows]
    assert inst == ["a", "a"]
    assert [(r[1], r[2]) for r in rows] == [(DAY - 1000, 1.0), (DAY + 1000, 1.0)]
    assert str(rows[0][3]) == "1970-01-01"


def test_overlapping_block_is_marked_and_newest_write_recipe_is_exact(tmp_path):
    _write_lake(tmp_path, overlap=True)
    names = [f.name for f in (tmp_path / "samples").glob("day=*/*.parquet")]
    assert any(re.match(r"^\d{12}_L0_-?\d+_-?\d+_x\.parquet$", n) for n in names)
    rows = duckdb.sql(
        f"""
        WITH u AS (SELECT *, parse_filename(filename)[1:12]::BIGINT AS seq
                   FROM read_parquet('{tmp_path}/samples/*/*.parquet', filename = true))
        SELECT s.series_id, s.ts, s.value, s.stale
        FROM u AS s ANTI JOIN u AS o
          ON o.series_id = s.series_id AND o.ts = s.ts AND o.seq > s.seq
        """
    ).fetchall()
    assert len(rows) == 4
    assert sorted(r[2] for r in rows if r[1] == DAY + 1000) == [1.0, 7.0]


def test_series_id_is_xxh64_of_the_documented_canonical_bytes(tmp_path):
    _write_lake(tmp_path, overlap=False)
    rows = duckdb.sql(
        f"SELECT DISTINCT series_id, labels FROM read_parquet('{tmp_path}/series/*/*.parquet')"
    ).fetchall()
    for sid, labels in rows:
        items = sorted(labels.items(), key=lambda kv: kv[0].encode())
        canon = b"\xff".join(k.encode() + b"\xff" + v.encode() for k, v in items)
        assert sid == np.uint64(xxhash.xxh64_intdigest(canon)).astype(np.int64)


def test_samples_files_carry_the_format_version_and_encodings(tmp_path):
    _write_lake(tmp_path, overlap=False)
    assert json.loads((tmp_path / "promlake.json").read_text())["format"] == "1"
    f = next((tmp_path / "samples").glob("day=*/*.parquet"))
    meta = duckdb.sql(f"SELECT key, value FROM parquet_kv_metadata('{f}')").fetchall()
    assert (b"promlake.format", b"1") in meta
    enc = dict(duckdb.sql(f"SELECT path_in_schema, encodings FROM parquet_metadata('{f}')").fetchall())
    assert "DELTA_BINARY_PACKED" in enc["ts"]
    assert "BYTE_STREAM_SPLIT" in enc["value"]


def test_plain_duckdb_reads_start_timestamps_also_next_to_blocks_without_them(tmp_path):
    _write_lake(tmp_path, overlap=False)  # blocks with an all-null st column
    # A block as a writer from before the st column left it: no st at all.
    old = next((tmp_path / "samples").glob("day=1970-01-01/*.parquet"))
    duckdb.sql(f"COPY (SELECT * EXCLUDE (st) FROM read_parquet('{old}')) TO '{old}' (FORMAT parquet)")
    lake = promlake.open(tmp_path)
    batch = SeriesBatch.from_dicts([{"__name__": "c"}])
    app = lake.appender()
    app.append(batch, np.array([0]), np.array([DAY + 5000]), np.array([3.0]), st=np.array([DAY + 2000]))
    app.commit()
    lake.close()
    rows = duckdb.sql(
        f"""
        SELECT ts, st FROM read_parquet('{tmp_path}/samples/*/*.parquet', union_by_name = true)
        ORDER BY ts, series_id
        """
    ).fetchall()
    assert rows == [
        (DAY - 1000, None),
        (DAY - 1000, None),
        (DAY + 1000, None),
        (DAY + 1000, None),
        (DAY + 5000, DAY + 2000),
    ]
    enc = dict(
        duckdb.sql(
            f"SELECT path_in_schema, encodings FROM parquet_metadata('{old.parent.parent}/*/*.parquet')"
        ).fetchall()
    )
    assert "DELTA_BINARY_PACKED" in enc["st"]


def test_plain_duckdb_recipe_reads_native_histogram_buckets(tmp_path):
    from promlake.engine.histograms import WRITER_SCHEMA

    rows = pa.table(
        {
            "ts": [DAY + 1000, DAY + 2000],
            "st": [None, None],
            "counter_reset_hint": ["unknown", "unknown"],
            "schema": [0, 0],
            "zero_threshold": [0.0, 0.0],
            "zero_count": [0.0, 0.0],
            "count": [3.0, 0.0],
            "sum": [4.0, struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000002))[0]],
            "positive_index": [[-1, 2], []],
            "positive_count": [[1.0, 2.0], []],
            "negative_index": [[], []],
            "negative_count": [[], []],
            "custom_values": [[], []],
        },
        schema=WRITER_SCHEMA,
    )
    lake = promlake.open(tmp_path)
    app = lake.appender()
    app.append_histograms(SeriesBatch.from_dicts([{"__name__": "latency_seconds"}]), np.array([0, 0]), rows)
    app.commit()
    lake.close()
    recipe = FORMAT_MD.split("-- native histograms, one bucket per row")[1].split(";")[0].split("\n", 1)[1]
    got = duckdb.sql(recipe.replace("'lake/", f"'{tmp_path}/") + " ORDER BY bucket").fetchall()
    assert got == [("latency_seconds", DAY + 1000, -1, 1.0), ("latency_seconds", DAY + 1000, 2, 2.0)]


def test_plain_duckdb_recipe_leaves_out_deleted_samples(tmp_path):
    """FORMAT.md's tombstone recipe, as written there: deleted samples out, later writes in."""
    from promlake.engine import Lake, tombstones
    from promlake.engine.matchers import compile_matcher

    _write_lake(tmp_path, overlap=False)
    lake = Lake(tmp_path)
    tombstones.delete_series(lake, [[compile_matcher("instance", "=", "a")]], DAY - 1000, DAY - 1000)
    batch = SeriesBatch.from_dicts([{"__name__": "up", "job": "node", "instance": "a"}])
    app = lake.appender()
    app.append(batch, np.array([0]), np.array([DAY + 1000]), np.array([5.0]))  # a re-write, later
    app.commit()
    lake.close()
    marker = "-- exact with deletes too: leave out what a tombstone deletes (only when tombstones/ has files)"
    recipe = FORMAT_MD.split(marker)[1].split(";")[0]
    rows = duckdb.sql(recipe.replace("'lake/", f"'{tmp_path}/")).fetchall()
    assert sorted((r[1], r[2]) for r in rows) == [(DAY - 1000, 0.0), (DAY + 1000, 1.0), (DAY + 1000, 5.0)]
    assert len({r[0] for r in rows if r[1] == DAY + 1000}) == 2
