"""/federate of Debian's Prometheus 2.42 and of promlake over the same remote-written data.

Federation answers at the wall clock's "now", so the data is written relative to it, just
before the comparisons: the newest samples are 20 s to 2 min old, the ones that must fall
out of the window 4.5 min old or more, with ``--query.lookback-delta=3m`` on both servers
(so the flag is exercised too and no sample sits near the window's edge while the test runs).

Bodies are compared byte for byte: both write the same timestamps, and promlake reproduces
upstream's order (families by name, series in label-set order), label order (own labels,
then the missing external labels and ``instance=""``), escaping and value spelling.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import cramjam
import numpy as np
import pytest

from promlake.ingest.prompb import WriteBatch, encode_write_request_v1

from .api_data import remote_write
from .conftest import Promlake, free_port, http, start_promlake, wait_ready

pytestmark = [
    pytest.mark.peers,
    pytest.mark.skipif(
        shutil.which("prometheus") is None, reason="prometheus (Debian package) not installed"
    ),
]

CONFIG = """\
global:
  scrape_interval: 15s
  external_labels:
    region: eu
    zone: z1
"""
LOOKBACK = "3m"
STALE = np.array([0x7FF0000000000002], np.uint64).view(np.float64)[0]

# (labels, [(seconds before now, value), ...]) - samples oldest first.
RECENT = [(150.0, 1.0), (120.0, 2.0), (20.0, 3.0)]
SERIES: list[tuple[dict[str, str], list[tuple[float, float]]]] = [
    ({"__name__": "fed_gauge", "job": "web", "instance": "i1"}, RECENT),
    ({"__name__": "fed_gauge", "job": "web", "instance": "i2"}, [(130.0, 7.5), (120.0, 8.25)]),
    ({"__name__": "fed_gauge", "job": "db"}, [(60.0, 42.0)]),  # no instance: gets instance=""
    ({"__name__": "fed_gauge", "job": "old"}, [(600.0, 1.0), (270.0, 2.0)]),  # out of the window
    ({"__name__": "fed_stale", "job": "gone"}, [(100.0, 1.0), (40.0, STALE)]),  # newest is stale
    ({"__name__": "fed_stale", "job": "back"}, [(100.0, STALE), (40.0, 5.0)]),
    ({"__name__": "fed_region", "region": "us", "instance": "x"}, [(30.0, 1.0)]),  # own region kept
    ({"__name__": "fed_escape", "v": 'back\\slash "quoted"\nnewline'}, [(30.0, 1.0)]),
    ({"__name__": "fed_escape", "v": "utf8 é ∑"}, [(30.0, 2.0)]),
    # "Zone" sorts before __name__: label-set order is not name order (see test_unsorted_input)
    ({"__name__": "caps_upper", "Zone": "a"}, [(30.0, 1.0)]),
    ({"__name__": "caps_aaa", "Zone": "b"}, [(30.0, 1.0)]),
]
ODD_VALUES = [
    float("nan"), float("inf"), float("-inf"), 1e-7, 1.5e21, 1234567.0, 1e6, 123456.0, 0.0001,
    1e-5, -0.0, 0.0, -1.0, 123456.789, 1.7e12, 0.1 + 0.2, 5e-324, -2.5e-5, 1e300,
]  # fmt: skip
SERIES += [({"__name__": "fed_odd", "case": f"c{i:02d}"}, [(25.0, v)]) for i, v in enumerate(ODD_VALUES)]


@dataclass
class Peers:
    prometheus: str
    promlake: str


def _payload(now_ms: int) -> bytes:
    names, values, owner, s_series, s_ts, s_val = [], [], [], [], [], []
    for i, (labels, samples) in enumerate(SERIES):
        for name, value in sorted(labels.items()):
            names.append(name)
            values.append(value)
            owner.append(i)
        for ago, v in samples:
            s_series.append(i)
            s_ts.append(now_ms - int(ago * 1000))
            s_val.append(v)
    batch = WriteBatch.build(
        n_series=len(SERIES),
        label_series=owner,
        label_names=names,
        label_values=values,
        sample_series=np.array(s_series),
        sample_ts=np.array(s_ts, np.int64),
        sample_values=np.array(s_val, np.float64),
    )
    return bytes(cramjam.snappy.compress_raw(encode_write_request_v1(batch)))


@pytest.fixture(scope="module")
def peers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peers]:
    root: Path = tmp_path_factory.mktemp("federate")
    config = root / "prometheus.yml"
    config.write_text(CONFIG)
    port = free_port()
    log = (root / "prometheus.log").open("wb")
    prom = subprocess.Popen(
        ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={root / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}", "--web.enable-remote-write-receiver",
         f"--query.lookback-delta={LOOKBACK}"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    lake: Promlake | None = None
    try:
        wait_ready(f"http://127.0.0.1:{port}/-/ready", prom)
        lake = start_promlake(
            root / "lake",
            f"--config.file={config}",
            "--no-self-metrics",
            f"--query.lookback-delta={LOOKBACK}",
        )
        body = _payload(int(time.time() * 1000))
        remote_write(f"http://127.0.0.1:{port}", body)
        remote_write(lake.url, body)
        yield Peers(f"http://127.0.0.1:{port}", lake.url)
    finally:
        if lake is not None:
            lake.stop()
        prom.terminate()
        prom.wait(30)
        log.close()


Answer = tuple[int, bytes, dict[str, str]]


def _both(
    peers: Peers, params: list[tuple[str, str]], method: str = "GET", data: bytes | None = None
) -> tuple[Answer, Answer]:
    """Both servers' (status, body, headers with lower-case names) for one request."""
    query = ("?" + urlencode(params)) if params else ""
    headers = {"Content-Type": "application/x-www-form-urlencoded"} if data is not None else None
    out = []
    for base in (peers.prometheus, peers.promlake):
        status, body, got = http(method, base + "/federate" + query, data, headers)
        out.append((status, body, {k.lower(): v for k, v in got.items()}))
    return out[0], out[1]


MATCHES = [
    ['{__name__=~"fed_.+"}'],
    ["fed_gauge", "fed_odd"],
    ['{job="web"}', 'fed_gauge{instance="i1"}'],  # overlapping sets: each series once
    ['{__name__=~"fed_.*",job=""}'],  # matchers matching the empty string are allowed here
    ['{job=~".*",__name__=~"fed_(gauge|stale)"}'],
    ["fed_stale"],
    ["fed_escape", "caps_upper", "caps_aaa", "fed_region", "fed_gauge"],
    ["fed_missing"],
    ["{}"],  # no matchers: nothing upstream
    [],  # no match[] at all: an empty 200, not an error
]


@pytest.mark.parametrize("matches", MATCHES, ids=lambda m: "|".join(m) or "none")
def test_federate_bodies_agree(peers, matches):
    prom, mine = _both(peers, [("match[]", m) for m in matches])
    assert prom[0] == mine[0] == 200, (prom, mine)
    assert prom[2]["content-type"] == mine[2]["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert mine[1].decode() == prom[1].decode()


def test_federate_sees_the_expected_series(peers):
    """The comparison above is only as good as the data: check what it holds."""
    _, mine = _both(peers, [("match[]", '{__name__=~"fed_.+"}')])
    text = mine[1].decode()
    assert 'fed_gauge{job="db",instance="",region="eu",zone="z1"} 42 ' in text
    assert 'fed_region{instance="x",region="us",zone="z1"} 1 ' in text
    assert 'job="old"' not in text and 'job="gone"' not in text
    assert 'fed_stale{job="back",instance="",region="eu",zone="z1"} 5 ' in text
    assert 'v="back\\\\slash \\"quoted\\"\\nnewline"' in text
    for spelling in ("NaN", "+Inf", "-Inf", "1e-07", "1.5e+21", "1.234567e+06", "1e+06", "123456 "):
        assert f" {spelling}" in text, spelling


def _families(body: bytes) -> list[tuple[str, set[str]]]:
    """Families in order, each with the set of its sample lines."""
    out: list[tuple[str, set[str]]] = []
    for line in body.decode().splitlines():
        if line.startswith("# TYPE "):
            out.append((line, set()))
        else:
            out[-1][1].add(line)
    return out


def test_unsorted_input(peers):
    """More than 12 series whose label-set order is not name order.

    Upstream sorts the label-ordered series by name alone with Go's unstable ``sort.Sort``
    (pdqsort): it keeps an input that is already in name order, and for up to 12 series
    (insertion sort) any input order, but otherwise may permute the series inside a family.
    promlake always writes label-set order, so here families, their order and their series
    agree, the order of series inside a family need not.
    """
    prom, mine = _both(peers, [("match[]", '{__name__=~"(fed|caps)_.+"}')])
    assert prom[0] == mine[0] == 200
    assert _families(mine[1]) == _families(prom[1])
    assert [f for f, _ in _families(mine[1])][:2] == ["# TYPE caps_aaa untyped", "# TYPE caps_upper untyped"]


@pytest.mark.parametrize("selector", ["up{", "1", "up offset 5m", 'x{a="b"'])
def test_bad_selectors_agree(peers, selector):
    prom, mine = _both(peers, [("match[]", "up"), ("match[]", selector)])
    assert prom[0] == mine[0] == 400
    assert mine[1] == prom[1]
    assert prom[2]["content-type"] == mine[2]["content-type"] == "text/plain; charset=utf-8"


def test_only_get(peers):
    prom, mine = _both(peers, [], method="POST", data=b"match[]=fed_gauge")
    assert prom[0] == mine[0] == 405
    assert mine[1] == prom[1] == b"Method Not Allowed\n"
    assert prom[2]["allow"] == mine[2]["allow"] == "GET, OPTIONS"
