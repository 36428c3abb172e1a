"""Several reference-server nodes as one cluster (CLU-1): Redis state and fan-out, PostgreSQL.

    with start_cluster(3, redis_url, database_url) as cluster:
        cluster.urls                 # node-1, node-2, node-3 on consecutive ports
        cluster.nodes[1].kill()      # a crash (CLU-2) …
        cluster.nodes[1].start()     # … and the same node back, same port and name

Each node is an ordinary `launcher.RunningServer` subprocess; what makes them one server is
only the backends they share. `serve_cluster` is `crm-harness serve --nodes N`: it runs the
nodes in the foreground until Ctrl-C or SIGTERM and stops them all.
"""

from __future__ import annotations

import dataclasses
import random
import signal
import socket
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

from .config import ServerSettings
from .exceptions import SettingsError, StartupError
from .launcher import RunningServer, retry_taken_port

__all__ = ["RunningCluster", "check_cluster_settings", "serve_cluster", "start_cluster"]

_POSTGRES_SCHEMES = ("postgresql://", "postgres://")
_MONITOR_SECONDS = 0.5
# Parallel runs (pytest -n) race for ports: a block picked free may be lost before a node
# binds it, and the whole cluster is started again on another block.
_CLUSTER_PORT_ATTEMPTS = 6
_BLOCK_SEARCH_ATTEMPTS = 500
# Blocks come from below Linux's ephemeral range (32768-60999), at a random start: the kernel
# never hands these ports to outgoing connections or to bind(0) (free_port), so only other
# clusters contend for them, and random starts keep those apart. (Linux gives bind(0) and
# outgoing connections ports of opposite parity: the port right after a bind(0) pick is often
# a client's under load, which is how blocks found from bind(0) ran out.)
_BLOCK_RANGE = (20000, 32768)


def check_cluster_settings(nodes: int, redis_url: str | None, database_url: str | None) -> None:
    """SettingsError (one line) for a cluster that could not act as one server."""
    if nodes < 1:
        raise SettingsError(f"--nodes must be at least 1, got {nodes}")
    if nodes == 1:
        return
    if not redis_url:
        raise SettingsError(f"--nodes {nodes} needs --redis-url: nodes share state through Redis")
    if not database_url or not database_url.startswith(_POSTGRES_SCHEMES):
        raise SettingsError(
            f"--nodes {nodes} needs --database-url postgresql://…: nodes share their records"
        )


def _ports_free(host: str, first: int, count: int) -> bool:
    for port in range(first, first + count):
        with socket.socket() as sock:
            try:
                sock.bind((host, port))
            except OSError:
                return False
    return True


def _consecutive_free_ports(host: str, count: int) -> int:
    """The first of `count` consecutive free ports, from a random start."""
    low, high = _BLOCK_RANGE
    for _ in range(_BLOCK_SEARCH_ATTEMPTS):
        first = random.randrange(low, high - count + 1)
        if _ports_free(host, first, count):
            return first
    raise StartupError(f"found no {count} consecutive free ports on {host}")


class RunningCluster:
    """The nodes of one cluster; `nodes[i]` is a `RunningServer` (kill/start/restart/stop)."""

    def __init__(self, nodes: list[RunningServer]) -> None:
        self.nodes = nodes

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    @property
    def settings(self) -> ServerSettings:
        return self.nodes[0].settings

    def stop(self) -> None:
        """Stop every node (SIGTERM, then SIGKILL) and remove their scratch directories."""
        with ThreadPoolExecutor(max_workers=max(1, len(self.nodes))) as pool:
            list(pool.map(lambda node: node.close(), self.nodes))

    def __enter__(self) -> RunningCluster:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_cluster(
    nodes: int,
    redis_url: str,
    database_url: str,
    *,
    settings: ServerSettings | None = None,
    node_class: type[RunningServer] = RunningServer,
    **changes: Any,
) -> RunningCluster:
    """Start `nodes` nodes named node-1…node-N on consecutive ports from `settings.port`.

    `changes` override fields of `settings` (`limits=`, `jwt_secret=`, `redis_prefix=`, …);
    port 0 (the default) picks a free block. Each node gets a scratch directory for its log.
    `node_class` starts each node (tests pass one that runs a fault entry point).
    """
    check_cluster_settings(nodes, redis_url, database_url)
    base = dataclasses.replace(
        settings or ServerSettings(port=0),
        redis_url=redis_url,
        database_url=database_url,
        **changes,
    )

    def start() -> RunningCluster:
        first_port = base.port or _consecutive_free_ports(base.host, nodes)
        cluster = _make_nodes(base, nodes, first_port, node_class)
        try:
            # Nodes start together: each waits for its own /healthz, in parallel.
            with ThreadPoolExecutor(max_workers=nodes) as pool:
                list(pool.map(lambda server: server.start(), cluster.nodes))
        except BaseException:
            cluster.stop()
            raise
        return cluster

    return start() if base.port else retry_taken_port(start, _CLUSTER_PORT_ATTEMPTS)


def _make_nodes(
    base: ServerSettings, nodes: int, first_port: int, node_class: type[RunningServer]
) -> RunningCluster:
    servers: list[RunningServer] = []
    for index in range(nodes):
        scratch = Path(tempfile.mkdtemp(prefix=f"crm-cluster-node-{index + 1}-"))
        node_settings = dataclasses.replace(
            base, port=first_port + index, node_name=f"node-{index + 1}", data_dir=str(scratch)
        )
        servers.append(node_class(node_settings, scratch))
    return RunningCluster(servers)


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def serve_cluster(settings: ServerSettings, nodes: int, announce: Callable[[str], None]) -> int:
    """`crm-harness serve --nodes N`: blocks until SIGINT/SIGTERM, then stops every node.

    Exit code 0 on a requested stop; 1 when a node dies by itself (the others are stopped too,
    so that a half cluster never keeps serving unnoticed).
    """
    check_cluster_settings(nodes, settings.redis_url, settings.database_url)
    assert settings.redis_url is not None and settings.database_url is not None
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    cluster: RunningCluster | None = None
    try:
        cluster = start_cluster(nodes, settings.redis_url, settings.database_url, settings=settings)
        for node in cluster.nodes:
            announce(f"{node.settings.node_name}: listening on {node.url}")
        announce(f"cluster of {nodes} nodes up; Ctrl-C stops them all")
        while True:
            time.sleep(_MONITOR_SECONDS)
            for node in cluster.nodes:
                if not node.running:
                    announce(
                        f"{node.settings.node_name} exited unexpectedly "
                        f"({node.log_tail(3)}); stopping the cluster"
                    )
                    return 1
    except KeyboardInterrupt:
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
        if cluster is not None:
            cluster.stop()
