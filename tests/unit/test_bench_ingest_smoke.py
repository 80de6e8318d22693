"""Smoke tests of the ingest benchmark (``benchmarks.bench_ingest``).

Fast: the request bodies are deterministic and decode (with promlake's own decoder) to the
generator's samples, the profile summary classifies py-spy stacks, and the promlake side runs end
to end against a real ``promlake serve`` subprocess on a tiny data set (~10 s). ``-m slow`` runs
``bench_ingest --quick`` with Prometheus and the profile.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import cramjam
import numpy as np
import pytest

from benchmarks import bench_ingest as bi
from benchmarks.datagen import DEFAULT_START_MS, Generator
from promlake.ingest import prompb

SPEC = bi.make_spec(series=600, minutes=1.0, start_ms=DEFAULT_START_MS)


def test_bodies_are_deterministic() -> None:
    a, b = bi.build_bodies(SPEC, 500), bi.build_bodies(SPEC, 500)
    assert a.rounds == b.rounds
    other = bi.build_bodies(bi.make_spec(series=600, minutes=1.0, seed=2, start_ms=DEFAULT_START_MS), 500)
    assert other.rounds != a.rounds


def test_bodies_decode_to_the_generated_samples() -> None:
    bodies = bi.build_bodies(SPEC, 500)
    gen = Generator(SPEC)
    assert len(bodies.rounds) == SPEC.rounds == 4
    assert bodies.series == gen.n_series_total  # no churn: every series is active throughout
    assert bodies.samples == gen.n_series_total * SPEC.rounds
    last_ts: dict[tuple[tuple[str, str], ...], int] = {}
    total = 0
    for reqs in bodies.rounds:
        round_keys = set()
        for body in reqs:
            batch = prompb.decode_write_request_v1(bytes(cramjam.snappy.decompress_raw(body)))
            n = len(batch.sample_ts)
            assert 0 < n <= 500
            total += n
            names = batch.label_names.to_pylist()
            values = batch.label_values.to_pylist()
            owner = np.asarray(batch.label_series)
            sets = [
                tuple(
                    sorted(
                        zip(
                            (names[i] for i in np.flatnonzero(owner == s)),
                            (values[i] for i in np.flatnonzero(owner == s)),
                            strict=True,
                        )
                    )
                )
                for s in range(batch.n_series)
            ]
            for s, ts in zip(
                np.asarray(batch.sample_series).tolist(), np.asarray(batch.sample_ts).tolist(), strict=True
            ):
                key = sets[s]
                assert key not in round_keys  # one sample per series and round
                round_keys.add(key)
                assert ts > last_ts.get(key, -1)  # in time order per series, round after round
                last_ts[key] = ts
    assert total == bodies.samples
    assert len(last_ts) == bodies.series
    assert {dict(k)["__name__"] for k in last_ts} == {d["__name__"] for d in gen.label_dicts}


def test_profile_summary_classifies_stacks() -> None:
    repo = str(bi.REPO)
    raw = "\n".join(
        [
            f"Server.run ({repo}/promlake/server.py:148);write ({repo}/api/write.py:1);"
            f"store ({repo}/ingest/remote_write.py:90);decode_write_request_v1 ({repo}/ingest/prompb/v1.py:10) 3",
            f"store ({repo}/ingest/remote_write.py:95);Lake._commit ({repo}/engine/lake.py:221);"
            f"encode_table ({repo}/engine/wal.py:60);write_table ({repo}/.venv/lib/pyarrow/ipc.py:5) 2",
            f"Thread.run (/usr/lib/python3.11/threading.py:982);Lake._background_flush ({repo}/engine/lake.py:443);"
            f"Lake.flush ({repo}/engine/lake.py:274) 1",
            "Server.serve (/x/site-packages/uvicorn/server.py:68);run (/x/asyncio/events.py:80) 4",
        ]
    )
    out = bi.summarize_profile(raw, rate=100)
    shares = {k: v["samples"] for k, v in out["categories"].items()}
    assert shares == {
        "protobuf decode (prompb)": 3,
        "WAL": 2,
        "head flush (background)": 1,
        "HTTP server (uvicorn/starlette/asyncio)": 4,
    }
    assert out["busy_samples"] == 10


def test_promlake_side_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "ingest.json"
    result = bi.main(
        [
            "--series",
            "1500",
            "--minutes",
            "1",
            "--only",
            "promlake",
            "--no-profile",
            "--settle",
            "0.2",
            "--out",
            str(out),
        ]
    )
    assert json.loads(out.read_text())["benchmark"] == "ingest"
    lake = result["promlake"]
    assert lake["samples"] == result["data"]["samples"] > 0
    assert lake["head_series_after"] == result["data"]["active_series"]
    assert lake["samples_per_second"] > 0 and lake["rss_peak"] >= lake["rss_idle"] > 0
    assert result["summary"]["samples_per_second"]["ratio"] is None  # no Prometheus side


@pytest.mark.slow
@pytest.mark.skipif(
    not os.path.exists("/usr/bin/prometheus"), reason="Prometheus (Debian package) not installed"
)
def test_bench_ingest_quick(tmp_path: Path) -> None:
    result = bi.main(["--quick", "--out", str(tmp_path / "ingest.json")])
    s = result["summary"]
    assert s["samples_per_second"]["ratio"] > 0 and s["ram_per_series"]["prometheus"] is not None
    assert result["prometheus"]["samples"] == result["promlake"]["samples"] == result["data"]["samples"]
    assert result["promlake_profile"] is None or result["promlake_profile"]["busy_samples"] > 0
