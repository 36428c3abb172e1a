"""The reference server as the harness's bundled server (`harness.bundled_server`).

Registered in pyproject under the entry point group `crm_harness.bundled_server` as
`reference`. Importing this module imports nothing heavy: the harness loads it to learn whether
the server's dependencies are installed (`pip install 'crm-realtime-harness[server]'`) before
anything imports FastAPI.
"""

from __future__ import annotations

import argparse
import importlib.util
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from harness.spec import Heartbeat, Limits

from .exceptions import SettingsError, StartupError

if TYPE_CHECKING:
    from .cluster import RunningCluster
    from .launcher import RunningServer

__all__ = ["CLUSTER_MODULES", "SERVER_MODULES", "ReferenceServer", "reference"]

# What `[server]` and `[cluster]` install, by import name.
SERVER_MODULES = ("fastapi", "uvicorn", "aiosqlite")
CLUSTER_MODULES = ("asyncpg", "redis")


class ReferenceServer:
    """Implements the harness's `ServerProvider` Protocol."""

    settings_error: type[Exception] = SettingsError
    startup_error: type[Exception] = StartupError

    def missing_modules(self, *, cluster: bool) -> list[str]:
        wanted = SERVER_MODULES + (CLUSTER_MODULES if cluster else ())
        return [name for name in wanted if importlib.util.find_spec(name) is None]

    def start_server(
        self,
        *,
        jwt_secret: str,
        jwt_public_key: str | None = None,
        heartbeat: Heartbeat | None = None,
        limits: Limits | None = None,
    ) -> RunningServer:
        from .launcher import start_server

        changes: dict[str, Any] = {"jwt_secret": jwt_secret, "jwt_public_key": jwt_public_key}
        if heartbeat is not None:
            changes["heartbeat"] = heartbeat
        if limits is not None:
            changes["limits"] = limits
        return start_server(**changes)

    def start_cluster(
        self,
        nodes: int,
        redis_url: str,
        database_url: str,
        *,
        jwt_secret: str,
        jwt_public_key: str | None = None,
        redis_prefix: str | None = None,
    ) -> RunningCluster:
        from .cluster import start_cluster

        changes: dict[str, Any] = {"jwt_secret": jwt_secret, "jwt_public_key": jwt_public_key}
        if redis_prefix is not None:
            changes["redis_prefix"] = redis_prefix
        return start_cluster(nodes, redis_url, database_url, **changes)

    def check_cluster_settings(
        self, nodes: int, redis_url: str | None, database_url: str | None
    ) -> None:
        from .cluster import check_cluster_settings

        check_cluster_settings(nodes, redis_url, database_url)

    def add_serve_options(self, parser: argparse.ArgumentParser) -> None:
        from .config import add_server_options

        add_server_options(parser)

    def serve(
        self, args: argparse.Namespace, nodes: int, prog: str, announce: Callable[[str], None]
    ) -> int:
        from .config import settings_from_args

        settings = settings_from_args(args)
        if nodes != 1:
            from .cluster import check_cluster_settings, serve_cluster

            check_cluster_settings(nodes, settings.redis_url, settings.database_url)
            return serve_cluster(settings, nodes, announce)
        from .serve_node import serve_forever

        return serve_forever(settings, prog, announce)


reference = ReferenceServer()
