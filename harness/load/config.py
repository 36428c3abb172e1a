"""`LoadConfig`: one load run, as `crm-harness load`, sweep and capacity describe it."""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness import UsageError

from .workload import SCENARIOS, Workload

if TYPE_CHECKING:
    from harness.client import TargetConnection, TokenSource

__all__ = [
    "AUTO_WORKERS",
    "DEFAULT_JWT_SECRET",
    "LOCUST_MASTER_PORT",
    "USERS_PER_PROCESS",
    "LoadConfig",
    "auto_workers",
    "check_metrics_port",
]

# What the bundled reference server is started with when no --url is given.
DEFAULT_JWT_SECRET = "crm-harness-load-secret-0123456789abcdef"
# Locust's own default: what remote workers started without --master-port connect to.
LOCUST_MASTER_PORT = 5557
# `workers`: choose the local worker processes from the users and the machine's cores.
AUTO_WORKERS = -1
# Users one generator process holds without its own delay entering the figures: at the
# default workload, 2,000 users cost one process about a tenth of a core, 10,000 users
# saturated one (issue 13); past this many, users spread over several processes.
USERS_PER_PROCESS = 4000


def auto_workers(users: int, users_per_process: int, cores: int) -> int:
    """Local Locust workers for `users`: none (one standalone process) while one process
    holds them, else one per `users_per_process`, at most one per core (a second process on
    the same core only adds switching)."""
    processes = min(max(cores, 1), -(-users // max(users_per_process, 1)))
    return processes if processes > 1 else 0


_BUNDLED_PLACEHOLDER = "http://127.0.0.1:1"


@dataclass(frozen=True, slots=True)
class LoadConfig:
    """`url=None` (and no `urls`) starts the bundled reference server for the run and stops it
    after: one node, or with `nodes` > 1 a local cluster on `redis_url` and `database_url`.

    `urls` names every node of a running cluster; users' sockets and REST calls spread over
    them. `url` is the first node (set from `urls` when only those are given).

    `target` holds the target options (`harness._target_options`, by dest: token source, TLS
    trust, extra headers, Socket.IO path); users' tokens are HS256 with `jwt_secret` when it
    names no other source. A bad value is a UsageError when the config is made.
    """

    users: int
    spawn_rate: float
    duration_s: float
    url: str | None = None
    urls: tuple[str, ...] = ()
    nodes: int = 1
    redis_url: str | None = None
    database_url: str | None = None
    redis_prefix: str | None = None  # the local cluster's key prefix (default: the server's)
    jwt_secret: str = DEFAULT_JWT_SECRET
    target: Mapping[str, Any] = field(default_factory=dict)
    scenario: str = "team_sync"
    # Local Locust worker processes; 0 = one standalone process; AUTO_WORKERS: see
    # `auto_workers` (`workers` then holds the count chosen and `workers_auto` is True).
    workers: int = 0
    remote_workers: int = 0  # workers started elsewhere with --worker --master-host
    master_bind_host: str = "127.0.0.1"
    # None: remote workers need a port known in advance (Locust's); local workers alone get
    # a free one per run, so that parallel runs never share a master (see runner).
    master_bind_port: int | None = None
    report_dir: Path | None = None
    workload: Workload = field(default_factory=Workload)
    web: bool = False
    web_port: int = 8089
    quiet: bool = False  # no live progress (tests)
    # The run's own live figures on a Prometheus endpoint (harness/load/live_metrics.py)
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"
    users_per_process: int = USERS_PER_PROCESS  # with AUTO_WORKERS
    workers_auto: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        if self.users < 1:
            raise UsageError(f"--users must be ≥ 1, got {self.users}")
        if not self.spawn_rate > 0:
            raise UsageError(f"--spawn-rate must be > 0, got {self.spawn_rate}")
        if not self.duration_s > 0:
            raise UsageError(f"--duration must be > 0, got {self.duration_s}")
        if self.scenario not in SCENARIOS:
            raise UsageError(f"unknown scenario {self.scenario!r} (one of: {', '.join(SCENARIOS)})")
        if self.users_per_process < 1:
            raise UsageError(f"--users-per-process must be ≥ 1, got {self.users_per_process}")
        if self.workers == AUTO_WORKERS:
            # Remote workers are the user's own plan: no local ones are added to it.
            cores = os.cpu_count() or 1
            chosen = (
                0
                if self.remote_workers
                else auto_workers(self.users, self.users_per_process, cores)
            )
            object.__setattr__(self, "workers", chosen)
            object.__setattr__(self, "workers_auto", True)
        if self.workers < 0 or self.remote_workers < 0:
            raise UsageError("--workers must be ≥ 0")
        if not self.jwt_secret:
            raise UsageError("--jwt-secret must not be empty")
        if self.url is not None and not self.urls:
            object.__setattr__(self, "urls", (self.url,))
        elif self.url is None and self.urls:
            object.__setattr__(self, "url", self.urls[0])
        elif self.url is not None and self.url != self.urls[0]:
            raise UsageError("url must be the first of urls when both are given")
        if self.metrics_port is not None and not 0 < self.metrics_port < 65536:
            raise UsageError(f"--metrics-port must be between 1 and 65535, got {self.metrics_port}")
        if self.target.get("token_cmd") and not self.urls:
            from harness.bundled_server import NO_IDENTITY_PROVIDER

            raise UsageError(NO_IDENTITY_PROVIDER)
        self.connection()  # every target option checked now, before anything starts
        if self.master_bind_port is None and self.remote_workers:
            object.__setattr__(self, "master_bind_port", LOCUST_MASTER_PORT)
        self._check_local_cluster()

    def _check_local_cluster(self) -> None:
        if self.nodes < 1:
            raise UsageError(f"--nodes must be ≥ 1, got {self.nodes}")
        if self.nodes == 1:
            return
        if self.urls:
            raise UsageError("--nodes starts a local cluster: give it or --url, not both")
        from harness.bundled_server import bundled_server

        bundled = bundled_server(cluster=True, alternative="or give --url for a running cluster")
        bundled.check_cluster_settings(self.nodes, self.redis_url, self.database_url)

    def tokens(self) -> TokenSource:
        """Users' tokens: the source `target` names, else HS256 with `jwt_secret`."""
        from harness.client import token_source

        values = dict(self.target)
        if not (values.get("jwt_private_key") or values.get("token_cmd")):
            values["jwt_secret"] = values.get("jwt_secret") or self.jwt_secret
        return token_source(values, env={})

    def connection(self, urls: Sequence[str] = ()) -> TargetConnection:
        """The run's `TargetConnection` to `urls` (default: `urls` of the config; a bundled
        server's, not known before it starts, stand in as plain http)."""
        from harness.client import target_connection

        nodes = tuple(urls) or self.urls or (_BUNDLED_PLACEHOLDER,)
        return target_connection(nodes, self.target, tokens=self.tokens())

    @property
    def generator_processes(self) -> int:
        return max(self.workers + self.remote_workers, 1)

    @property
    def distributed(self) -> bool:
        return self.workers + self.remote_workers > 0


def check_metrics_port(host: str, port: int) -> None:
    """UsageError in one line when the live endpoint cannot listen there, checked before
    anything starts (the Locust process that serves it binds it again, moments later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError as exc:
            why = "in use" if exc.errno == errno.EADDRINUSE else exc.strerror or str(exc)
            raise UsageError(
                f"--metrics-port {port}: cannot listen on {host}:{port} ({why})"
            ) from None
