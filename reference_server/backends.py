"""The one place that picks backends from URLs (CONTRIBUTING: factories choose by scheme)."""

from __future__ import annotations

from dataclasses import dataclass

from .config import ServerSettings
from .exceptions import MissingDependency, SettingsError
from .realtime.fanout import RedactingManager
from .realtime.outbox import OutboxTimings
from .state.base import ClusterState
from .state.memory import MemoryClusterState
from .store import open_store
from .store.base import InvalidDatabaseUrl, RecordStore

__all__ = ["REDIS_KEY_PREFIX", "Backends", "choose_backends"]

REDIS_KEY_PREFIX = "crm:"


@dataclass(frozen=True, slots=True)
class Backends:
    """Chosen but not yet connected: the app's lifespan opens and closes them."""

    store: RecordStore
    state: ClusterState
    manager: RedactingManager
    outbox: OutboxTimings | None = None  # a cluster node: its store keeps an outbox


def choose_backends(settings: ServerSettings) -> Backends:
    """SettingsError (one line) for a URL no backend understands, or whose package is not
    installed (the cluster backends come with the `cluster` extra).

    A node with Redis shares its event log with other nodes: its store keeps an outbox, so
    that another node publishes what it committed and could not publish (`realtime.outbox`).
    """
    outbox_node = settings.node_name if settings.redis_url is not None else None
    try:
        store = open_store(settings.store_url, outbox_node=outbox_node)
    except InvalidDatabaseUrl as exc:
        raise SettingsError(str(exc)) from None
    except ModuleNotFoundError as exc:
        raise MissingDependency("a PostgreSQL --database-url", exc.name or "?", "cluster") from None
    if settings.redis_url is None:
        return Backends(store, MemoryClusterState(), RedactingManager())
    if not settings.redis_url.startswith(("redis://", "rediss://", "unix://")):
        raise SettingsError(
            f"unsupported Redis URL {settings.redis_url!r}: expected redis://HOST:PORT/DB"
        )
    try:
        from .realtime.redis_fanout import RedisFanoutManager
        from .state.guard import guard_store
        from .state.redis import RedisClusterState
    except ModuleNotFoundError as exc:
        raise MissingDependency("--redis-url", exc.name or "?", "cluster") from None

    state = RedisClusterState(
        settings.redis_url, prefix=settings.redis_prefix, node_id=settings.node_name
    )
    manager = RedisFanoutManager(settings.redis_url, prefix=settings.redis_prefix)
    return Backends(
        guard_store(store, lambda: state.available), state, manager, outbox=OutboxTimings()
    )
