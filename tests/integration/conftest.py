"""Helpers to run real processes (promlake serve, Debian peers) on loopback ports."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http(method: str, url: str, data: bytes | None = None, headers: dict[str, str] | None = None, timeout: float = 10) -> tuple[int, bytes, dict[str, str]]:
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read(), dict(e.headers)


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before it was ready")
        with contextlib.suppress(OSError):
            if http("GET", url, timeout=2)[0] == 200:
                return
        time.sleep(0.1)
    raise TimeoutError(f"{url} not ready after {timeout}s")


@dataclass
class Promlake:
    proc: subprocess.Popen[bytes]
    port: int
    lake: Path
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def start_promlake(lake: Path, *extra: str, port: int | None = None) -> Promlake:
    port = port or free_port()
    log = lake.parent / f"promlake-{port}.log"
    cmd = [
        sys.executable, "-m", "promlake", "serve",
        f"--storage.path={lake}", f"--web.listen-address=127.0.0.1:{port}", *extra,
    ]  # fmt: skip
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    server = Promlake(proc, port, lake, log)
    try:
        wait_ready(server.url + "/-/ready", proc)
    except Exception:
        server.stop(signal.SIGKILL)
        raise RuntimeError(log.read_text()) from None
    return server


@pytest.fixture
def promlake_server(tmp_path: Path) -> Iterator[Promlake]:
    server = start_promlake(tmp_path / "lake")
    yield server
    server.stop()


def sql(lake: Path, query: str) -> str:
    r = subprocess.run(
        [sys.executable, "-m", "promlake", "sql", f"--storage.path={lake}", "--format=csv", query],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    return r.stdout
