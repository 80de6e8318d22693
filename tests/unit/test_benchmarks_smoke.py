"""Smoke tests of the storage benchmark's tools: data generator, OpenMetrics writer, remote-write encoder.

The benchmark itself (``benchmarks.bench_storage``) is only run by the slow test at the end.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from benchmarks.datagen import Generator, Spec
from benchmarks.openmetrics import write_openmetrics
from benchmarks.remote_write import LabelPool, encode_write_requests

PROMTOOL = "/usr/bin/promtool"
SMALL = Spec(series=450, hours=0.25, churn_every_min=6.0, churn_phase_min=3.0, restarts_per_target_day=200.0)
needs_promtool = pytest.mark.skipif(not os.path.exists(PROMTOOL), reason="promtool (Debian package prometheus) is not installed")


def _digest(gen: Generator) -> str:
    h = hashlib.sha256()
    for ch in gen.chunks():
        for a in (ch.gids, ch.ts, ch.values):
            h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def test_generator_is_deterministic() -> None:
    assert _digest(Generator(SMALL)) == _digest(Generator(SMALL))
    assert _digest(Generator(SMALL)) != _digest(Generator(Spec(**{**SMALL.__dict__, "seed": 2})))


def test_generated_data_is_realistic() -> None:
    gen = Generator(SMALL)
    assert gen.churn_rounds, "the small spec must exercise churn"
    assert len(gen.inc_slot) > gen.n_targets  # replaced targets come back under new instance labels
    names = {d["__name__"] for d in gen.label_dicts}
    assert {"http_requests_total", "http_request_duration_seconds_bucket", "node_cpu_seconds_total",
            "go_gc_duration_seconds"} <= names
    last: dict[int, float] = {}
    resets = 0
    counters = {i for i, d in enumerate(gen.label_dicts) if d["__name__"].endswith(("_total", "_count", "_bucket"))}
    for ch in gen.chunks():
        assert (np.diff(ch.ts, axis=1) > 0).all()  # every series' timestamps strictly increase
        for row, g in enumerate(ch.gids.tolist()):
            if g in counters:
                v = ch.values[row]
                resets += int((np.diff(np.r_[last.get(g, v[0]), v]) < 0).sum())
                last[g] = float(v[-1])
    assert resets > 0, "counter resets are part of realistic data"


def test_batches_are_the_chunks_in_time_order() -> None:
    gen = Generator(SMALL)
    total = sum(ch.n_samples for ch in gen.chunks())
    prev = np.iinfo(np.int64).min
    seen = 0
    rows = []
    for b in Generator(SMALL).batches(rounds_per_batch=7):
        assert b.series_index.dtype == np.int32 and b.ts.dtype == np.int64 and b.values.dtype == np.float64
        assert b.series_index.max() < b.labels.n_series
        assert b.ts[0] >= prev and (np.diff(b.ts) >= 0).all()
        prev = int(b.ts[-1])
        seen += b.n_samples
        rows.append(np.stack([b.labels.gids[b.series_index], b.ts, b.values.view(np.int64)], axis=1))
    assert seen == total
    one = np.concatenate([np.stack([b.labels.gids[b.series_index], b.ts, b.values.view(np.int64)], axis=1)
                          for b in Generator(SMALL).batches(rounds_per_batch=1)])
    seven = np.concatenate(rows)
    assert np.array_equal(np.unique(one, axis=0), np.unique(seven, axis=0))


def _om_samples(path: Path) -> int:
    with open(path, "rb") as f:
        return sum(1 for line in f if not line.startswith(b"#"))


@needs_promtool
def test_openmetrics_file_round_trips_through_promtool(tmp_path: Path) -> None:
    gen = Generator(SMALL)
    om = tmp_path / "data.om"
    n = write_openmetrics(gen, om)
    assert om.read_bytes().endswith(b"\n# EOF\n")
    assert n == _om_samples(om) == sum(b.n_samples for b in Generator(SMALL).batches())
    blocks = tmp_path / "blocks"
    subprocess.run([PROMTOOL, "tsdb", "create-blocks-from", "openmetrics", "--quiet", str(om), str(blocks)],
                   check=True, capture_output=True, timeout=60)
    (blocks / "wal").mkdir()  # `promtool tsdb dump` insists on a WAL directory
    dump = subprocess.run([PROMTOOL, "tsdb", "dump", str(blocks)], check=True, capture_output=True,
                          text=True, timeout=60).stdout.splitlines()
    assert len(dump) == n
    # Every sample must come back bit-exact: same labels, same ms timestamp, same float.
    want = set()
    canon = {}
    for ch in gen.chunks():  # chunks() restarts from the beginning each time
        for row, g in enumerate(ch.gids.tolist()):
            if g not in canon:
                canon[g] = "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(gen.label_dicts[g].items())) + "}"
            for t, v in zip(ch.ts[row].tolist(), ch.values[row].tolist(), strict=True):
                want.add((canon[g], t, float(v).hex()))
    line = re.compile(r"^(\{.*\}) (\S+) (-?\d+)$")
    got = set()
    for text in dump:
        m = line.match(text)
        assert m, text
        got.add((m.group(1), int(m.group(3)), float(m.group(2)).hex()))
    assert got == want
    shutil.rmtree(blocks)


def _write_request_class() -> Any:
    """prometheus.WriteRequest built at runtime from its .proto definition."""
    fdp = descriptor_pb2.FileDescriptorProto(name="bench_rw.proto", package="benchrw", syntax="proto3")
    f = descriptor_pb2.FieldDescriptorProto
    spec = {
        "Label": [("name", 1, f.TYPE_STRING, f.LABEL_OPTIONAL, ""), ("value", 2, f.TYPE_STRING, f.LABEL_OPTIONAL, "")],
        "Sample": [("value", 1, f.TYPE_DOUBLE, f.LABEL_OPTIONAL, ""), ("timestamp", 2, f.TYPE_INT64, f.LABEL_OPTIONAL, "")],
        "TimeSeries": [("labels", 1, f.TYPE_MESSAGE, f.LABEL_REPEATED, ".benchrw.Label"),
                       ("samples", 2, f.TYPE_MESSAGE, f.LABEL_REPEATED, ".benchrw.Sample")],
        "WriteRequest": [("timeseries", 1, f.TYPE_MESSAGE, f.LABEL_REPEATED, ".benchrw.TimeSeries")],
    }
    for name, fields in spec.items():
        msg = fdp.message_type.add(name=name)
        for fname, num, typ, label, tname in fields:
            field = msg.field.add(name=fname, number=num, type=typ, label=label)
            if tname:
                field.type_name = tname
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("benchrw.WriteRequest"))


def test_remote_write_encoding_decodes_with_protobuf() -> None:
    write_request = _write_request_class()
    sets = [{"__name__": "m" * i, "job": "j" * (i * 9), "zone": "é"} for i in range(1, 40)]
    pool = LabelPool.build(sets)
    rng = np.random.default_rng(0)
    n = 3000
    series = rng.integers(0, len(sets), n)
    ts = rng.integers(-5, 2**45, n)
    ts[:3] = [0, -1, 127]
    vals = rng.standard_normal(n)
    vals[:3] = [0.0, np.nan, -np.inf]
    i = 0
    for body in encode_write_requests(pool, series, ts, vals, max_samples=700):
        req = write_request.FromString(body)
        assert len(req.timeseries) <= 700
        for t in req.timeseries:
            assert [lab.name for lab in t.labels] == sorted(sets[series[i]])
            assert {lab.name: lab.value for lab in t.labels} == sets[series[i]]
            assert len(t.samples) == 1 and t.samples[0].timestamp == ts[i]
            assert np.float64(t.samples[0].value).tobytes() == vals[i].tobytes()
            i += 1
    assert i == n


@pytest.mark.slow
@needs_promtool
def test_quick_benchmark_runs(tmp_path: Path) -> None:
    from benchmarks import bench_storage

    result = bench_storage.main(["--quick", "--out", str(tmp_path / "storage.json")])
    assert result["summary"]["bytes_per_sample"]["prometheus"] > 0
