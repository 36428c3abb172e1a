"""Fixtures for the load engine's tests: the accuracy stub server as a subprocess."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from load_stub_server import STUB_SECRET

from harness.spec import HEALTH_PATH

STUB = Path(__file__).with_name("load_stub_server.py")


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def stub_server() -> Iterator[Callable[..., str]]:
    """Start the stub with the given faults; returns its URL. Every stub started is stopped."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(
        delay_ms: float = 0.0,
        drop_every: int = 0,
        withhold: bool = False,
        extra_even_ms: float = 0.0,
    ) -> str:
        port = _free_port()
        cmd = [sys.executable, str(STUB), "--port", str(port), "--secret", STUB_SECRET]
        cmd += ["--delay-ms", str(delay_ms), "--drop-every", str(drop_every)]
        if withhold:
            cmd.append("--withhold")
        cmd += ["--extra-even-ms", str(extra_even_ms)]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        procs.append(proc)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                if httpx.get(url + HEALTH_PATH, timeout=0.5).status_code == 200:
                    return url
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("stub server did not start")

    yield start
    for proc in procs:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
