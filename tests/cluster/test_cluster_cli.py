"""`crm-harness serve --nodes N`: N node processes on consecutive ports, named node-1..N in
the info document (INF-1), one SIGTERM stops them all; a cluster without Redis is a usage
error in one line (CLU-1)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

from harness.cli import main
from harness.spec import INFO_PATH
from reference_server import cluster
from tests.services import RedisNamespace


@pytest.mark.parametrize(
    ("argv", "names"),
    [
        (["--nodes", "3"], "--redis-url"),
        (["--nodes", "2", "--redis-url", "redis://127.0.0.1:6379/0"], "--database-url"),
        (["--nodes", "0"], "at least 1"),
    ],
)
def test_cluster_without_its_backends_is_a_one_line_usage_error(
    argv: list[str], names: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """CLU-1: nodes that could not act as one are refused before anything starts."""
    assert main(["serve", *argv]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and names in err and "Traceback" not in err


def test_serve_nodes_starts_names_and_stops_them_all(
    postgres_url: str, redis_namespace: RedisNamespace
) -> None:
    """INF-1, CLU-1: `serve --nodes 2` prints two URLs on consecutive ports whose info
    documents say node-1 and node-2; SIGTERM to the command stops both."""
    command = [sys.executable, "-m", "harness", "serve", "--nodes", "2", "--port", "0",
               "--redis-url", redis_namespace.url, "--redis-prefix", redis_namespace.prefix,
               "--database-url", postgres_url]  # fmt: skip
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"}
    )
    urls: list[str] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        for line in proc.stdout:
            if "listening on" in line:
                urls.append(line.rsplit(" ", 1)[-1].strip())
            if "cluster of 2 nodes up" in line or time.monotonic() > deadline:
                break
        assert len(urls) == 2, urls
        ports = [int(url.rsplit(":", 1)[1]) for url in urls]
        assert ports[1] == ports[0] + 1
        names = [httpx.get(url + INFO_PATH, timeout=5).json()["node"] for url in urls]
        assert names == ["node-1", "node-2"]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    for url in urls:
        with pytest.raises(httpx.HTTPError):
            httpx.get(url + INFO_PATH, timeout=2)


def test_cluster_moves_to_another_block_when_a_node_loses_its_port(
    postgres_url: str, redis_namespace: RedisNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CLU-1: a block of ports found free can lose a port to another process before its node
    binds it (parallel runs); the whole cluster starts again on another block."""
    real_block = cluster._consecutive_free_ports
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen(1)
        taken = squatter.getsockname()[1]
        blocks = iter([taken - 1])  # node-2 would get the squatted port
        monkeypatch.setattr(
            cluster,
            "_consecutive_free_ports",
            lambda host, n: next(blocks, None) or real_block(host, n),
        )
        with cluster.start_cluster(
            2, redis_namespace.url, postgres_url, redis_prefix=redis_namespace.prefix
        ) as running:
            ports = [node.settings.port for node in running.nodes]
            assert taken not in ports and ports[1] == ports[0] + 1
            names = [httpx.get(url + INFO_PATH, timeout=5).json()["node"] for url in running.urls]
            assert names == ["node-1", "node-2"]
