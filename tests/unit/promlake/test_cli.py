"""The promlake command line: flags, check config, offline SQL."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

import promlake
from promlake.cli import main, parse_size
from promlake.engine import SeriesBatch


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "promlake", *args], capture_output=True, text=True, timeout=120)


def test_unknown_flag_is_a_clear_error():
    r = run("serve", "--storage.tsdb.pth=x")
    assert r.returncode == 2
    assert "unrecognized arguments: --storage.tsdb.pth=x" in r.stderr


def test_bad_config_stops_serve_before_anything_starts(tmp_path):
    bad = tmp_path / "p.yml"
    bad.write_text("global:\n  scrape_interval: nope\n")
    r = run("serve", f"--config.file={bad}", f"--storage.path={tmp_path / 'lake'}")
    assert r.returncode == 1
    assert 'error loading config' in r.stderr and '"nope"' in r.stderr
    assert not (tmp_path / "lake").exists()


def test_check_config(tmp_path, capsys):
    good = tmp_path / "good.yml"
    good.write_text("rule_files: [a.yml]\n")
    bad = tmp_path / "bad.yml"
    bad.write_text("nope: 1\n")
    assert main(["check", "config", str(good)]) == 0
    assert "SUCCESS: 1 rule files found" in capsys.readouterr().out
    assert main(["check", "config", str(bad)]) == 1
    assert "field nope not found" in capsys.readouterr().out


def test_sql_offline_reads_head_and_blocks_and_refuses_writes(tmp_path):
    lake = promlake.open(tmp_path)
    app = lake.appender()
    app.append(SeriesBatch.from_dicts([{"__name__": "up", "job": "x"}]), np.array([0, 0]), np.array([1000, 2000]), np.array([1.0, 0.0]))
    app.commit()
    # Still open (server-like): the offline reader sees the WAL too.
    r = run("sql", f"--storage.path={tmp_path}", "--format=csv", "SELECT metric, ts, value FROM metrics ORDER BY ts")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["metric,ts,value", "up,1000,1.0", "up,2000,0.0"]
    r = run("sql", f"--storage.path={tmp_path}", f"COPY (SELECT 1) TO '{tmp_path}/x.csv'")
    assert r.returncode == 1 and "only queries are allowed" in r.stderr
    r = run("sql", f"--storage.path={tmp_path}", "SELECT * FROM read_csv('/etc/passwd')")
    assert r.returncode == 1 and "disabled by configuration" in r.stderr
    lake.close()


def test_parse_size():
    assert parse_size("512MB") == 512 << 20
    assert parse_size("1GB") == 1 << 30
