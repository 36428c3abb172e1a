"""`ClusterState` on Redis: what every node of a cluster must agree on (CLU-1).

Every check-then-write runs as one Lua script (`_redis_scripts`), so that two nodes admitting
the same user's sockets at once cannot both pass the limit (LIM-3). A node that dies without
cleaning up must not hold its users' connection slots forever: each node refreshes a heartbeat
key with a TTL, records the entries it creates in a set of its own, and every node
periodically reaps the entries of nodes whose heartbeat expired. A node also reaps its own
leftovers when it starts (a restarted `node-2` owns nothing yet).

Redis going away must not hang a node: commands have short timeouts and at most one retry,
and a failure raises `ClusterStateUnavailable` (a `StoreUnavailable`, which the transports
already turn into 503 / `INTERNAL`). When the heartbeat finds its key gone — Redis restarted
empty, or other nodes reaped this one during a partition — the node re-registers the sockets
and viewers it still holds, so the cluster recovers without a manual step.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from redis import asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from ..store.base import StoreUnavailable
from . import _redis_scripts as scripts
from ._redis_scripts import RedisKeys, lock_from, viewers_from
from .base import EditLock, Viewer
from .reaping import ReapedNode, ReapListener, reaped_from_script

__all__ = ["ClusterStateUnavailable", "RedisClusterState", "RedisTimeouts"]

_log = logging.getLogger(__name__)
_NO_LIMIT = 2**31  # re-registering sockets that were admitted already
_T = TypeVar("_T")


class ClusterStateUnavailable(StoreUnavailable):
    """Redis cannot be reached in time; the change is refused, nothing is half-done."""


@dataclass(frozen=True, slots=True)
class RedisTimeouts:
    """Short on purpose: a node must answer 503 quickly rather than hang (INF-3)."""

    connect_seconds: float = 1.0
    command_seconds: float = 2.0
    heartbeat_seconds: float = 2.0
    node_ttl_seconds: float = 8.0  # a node silent this long is dead and gets reaped


class RedisClusterState:
    """One node's view of the shared state; `node_id` must be unique within the cluster."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "crm:",
        node_id: str | None = None,
        timeouts: RedisTimeouts | None = None,
    ) -> None:
        self.url = url
        self.prefix = prefix
        self.keys = RedisKeys(prefix)
        self.node_id = node_id or f"node-{uuid.uuid4().hex[:8]}"
        self.timeouts = timeouts or RedisTimeouts()
        self._redis: aioredis.Redis | None = None
        self._heartbeat: asyncio.Task[None] | None = None
        self._scripts: dict[str, Any] = {}
        # What this node holds, so it can re-register it after Redis lost it.
        self._local_connections: dict[str, str] = {}  # sid → user
        self._local_viewers: dict[tuple[str, str], Viewer] = {}  # (record, sid) → viewer
        self._own_leftovers_reaped = False
        # Whether the last command reached Redis (the heartbeat tries every few seconds):
        # `StateGuardedStore` refuses changes while it is False, without a round trip.
        self.available = False
        # Told what a dead node left (its sockets, users now offline, viewers): exactly one
        # node hears each, so it can emit what the dead node never did (COL-1, COL-3).
        self.reap_listeners: list[ReapListener] = []

    # -- lifecycle --------------------------------------------------------------------------
    @property
    def redis(self) -> aioredis.Redis:
        if self._redis is None:
            raise ClusterStateUnavailable("cluster state is not open")
        return self._redis

    async def open(self) -> None:
        self._redis = aioredis.Redis.from_url(
            self.url,
            socket_connect_timeout=self.timeouts.connect_seconds,
            socket_timeout=self.timeouts.command_seconds,
            retry=Retry(NoBackoff(), 1),  # one retry covers a connection Redis dropped
        )
        for name in ("ADD_CONNECTION", "REMOVE_CONNECTION", "ADD_VIEWER", "REMOVE_VIEWER"):
            self._scripts[name] = self._redis.register_script(getattr(scripts, name))
        for name in ("ACQUIRE_LOCK", "RELEASE_LOCK", "REAP_NODE"):
            self._scripts[name] = self._redis.register_script(getattr(scripts, name))
        try:
            await self._beat()
        except ClusterStateUnavailable:
            # Like the store: a node does not start without its backend (one clear line).
            await self._redis.aclose()
            self._redis = None
            raise
        self._heartbeat = asyncio.create_task(self._heartbeat_loop(), name="cluster-heartbeat")

    async def close(self) -> None:
        if self._heartbeat is not None:
            # Re-cancel until done: a cancel landing as a Redis reply arrives can be swallowed.
            while not self._heartbeat.done():
                self._heartbeat.cancel()
                await asyncio.wait({self._heartbeat}, timeout=0.5)
            self._heartbeat = None
        if self._redis is not None:
            with contextlib.suppress(RedisError, OSError, ClusterStateUnavailable):
                await self._reap(self.node_id, force=True, notify=False)
                await self._redis.delete(self.keys.alive(self.node_id))
                await self._redis.srem(self.keys.nodes, self.node_id)
            await self._redis.aclose()
            self._redis = None

    async def ping(self) -> bool:
        try:
            return bool(await self._call(lambda r: r.ping()))
        except ClusterStateUnavailable:
            return False

    async def _call(self, command: Callable[[aioredis.Redis], Awaitable[_T]]) -> _T:
        try:
            async with asyncio.timeout(self.timeouts.command_seconds * 2):
                result = await command(self.redis)
        except (RedisError, OSError, TimeoutError) as exc:
            self.available = False
            raise ClusterStateUnavailable(
                f"cluster state backend (Redis) unavailable: {exc}"
            ) from exc
        self.available = True
        return result

    async def _script(self, name: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        script = self._scripts[name]
        return await self._call(lambda _r: script(keys=list(keys), args=list(args)))

    # -- heartbeat and reaping of dead nodes -------------------------------------------------
    async def _beat(self) -> None:
        if not self._own_leftovers_reaped:  # what a previous process of this node left behind
            await self._reap(self.node_id, force=True)
            self._own_leftovers_reaped = True
        ttl_ms = int(self.timeouts.node_ttl_seconds * 1000)
        alive_key = self.keys.alive(self.node_id)

        async def beat(r: aioredis.Redis) -> Any:
            pipe = r.pipeline(transaction=True)
            pipe.set(alive_key, "1", px=ttl_ms, get=True)
            pipe.sadd(self.keys.nodes, self.node_id)
            return await pipe.execute()

        previous, _ = await self._call(beat)
        if previous is None and (self._local_connections or self._local_viewers):
            await self._reregister()

    async def _reregister(self) -> None:
        """Put back what this node holds after Redis lost it (restart, or reaped in a partition)."""
        _log.warning("cluster state: re-registering %s sockets", len(self._local_connections))

        # Through the same scripts as the first time, so that the owned-set members are
        # encoded as the removal scripts expect (cjson, not Python's json). Sockets already
        # admitted are not refused now: the limit is lifted for them.
        for sid, user_id in list(self._local_connections.items()):
            await self._add_connection_entry(user_id, sid, _NO_LIMIT)
        for (record_key, sid), viewer in list(self._local_viewers.items()):
            await self._add_viewer_entry(record_key, sid, viewer)

    async def _reap(self, node_id: str, *, force: bool, notify: bool = True) -> ReapedNode | None:
        """Remove a node's entries (None: it is alive); listeners hear what went, except when
        this node closes (its sockets' own disconnects announce them)."""
        keys = [self.keys.owned(node_id), self.keys.alive(node_id), self.keys.nodes]
        answer = await self._script(
            "REAP_NODE", keys, [self.prefix, node_id, "1" if force else "0"]
        )
        if not isinstance(answer, list):
            return None
        reaped = reaped_from_script(node_id, answer)
        if notify and not reaped.empty:
            _log.warning("cluster state: reaped %s sockets of %s", len(reaped.connections), node_id)
            for listener in list(self.reap_listeners):
                try:
                    await listener(reaped)
                except Exception:  # one listener's failure must not stop the heartbeat
                    _log.exception("reap listener failed")
        return reaped

    async def reap_dead_nodes(self) -> list[ReapedNode]:
        """Remove the entries of every node whose heartbeat expired; what each left."""
        members = await self._call(lambda r: r.smembers(self.keys.nodes))
        reaped = []
        for raw in members:
            node_id = raw.decode() if isinstance(raw, bytes) else str(raw)
            if node_id != self.node_id:
                gone = await self._reap(node_id, force=False)
                if gone is not None:
                    reaped.append(gone)
        return reaped

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.timeouts.heartbeat_seconds)
            try:
                await self._beat()
                await self.reap_dead_nodes()
            except ClusterStateUnavailable as exc:
                _log.warning("cluster heartbeat failed: %s", exc)
            except Exception:  # the heartbeat must outlive any surprise, or the node gets reaped
                _log.exception("cluster heartbeat error")

    # -- connections (LIM-3) and presence (COL-1) -------------------------------------------
    async def _add_connection_entry(self, user_id: str, sid: str, limit: int) -> int:
        keys = [self.keys.conn(user_id), self.keys.owned(self.node_id), self.keys.online]
        return int(await self._script("ADD_CONNECTION", keys, [sid, self.node_id, limit, user_id]))

    async def add_connection(self, user_id: str, sid: str, limit: int) -> int | None:
        count = await self._add_connection_entry(user_id, sid, limit)
        if count < 0:
            return None
        self._local_connections[sid] = user_id
        return count

    async def remove_connection(self, user_id: str, sid: str) -> int:
        self._local_connections.pop(sid, None)
        keys = [self.keys.conn(user_id), self.keys.owned(self.node_id), self.keys.online]
        return int(await self._script("REMOVE_CONNECTION", keys, [sid, user_id]))

    async def connection_count(self, user_id: str) -> int:
        return int(await self._call(lambda r: r.hlen(self.keys.conn(user_id))))

    async def online_users(self, user_ids: Sequence[str] | None = None) -> dict[str, int]:
        async def counts(r: aioredis.Redis) -> dict[str, int]:
            if user_ids is None:
                wanted = sorted(
                    m.decode() if isinstance(m, bytes) else m
                    for m in await r.smembers(self.keys.online)
                )
            else:
                wanted = list(dict.fromkeys(user_ids))
            pipe = r.pipeline(transaction=False)
            for user_id in wanted:
                pipe.hlen(self.keys.conn(user_id))
            found = await pipe.execute()
            return {u: int(n) for u, n in zip(wanted, found, strict=True) if int(n) > 0}

        return await self._call(counts)

    # -- record rooms (COL-3) ---------------------------------------------------------------
    async def _add_viewer_entry(self, record_key: str, sid: str, viewer: Viewer) -> list[Viewer]:
        entry = json.dumps({"userId": viewer.user_id, "name": viewer.name})
        keys = [self.keys.viewers(record_key), self.keys.owned(self.node_id)]
        return viewers_from(await self._script("ADD_VIEWER", keys, [sid, entry, record_key]))

    async def add_viewer(self, record_key: str, sid: str, viewer: Viewer) -> list[Viewer]:
        viewers = await self._add_viewer_entry(record_key, sid, viewer)
        self._local_viewers[(record_key, sid)] = viewer
        return viewers

    async def remove_viewer(self, record_key: str, sid: str) -> list[Viewer]:
        self._local_viewers.pop((record_key, sid), None)
        keys = [self.keys.viewers(record_key), self.keys.owned(self.node_id)]
        return viewers_from(await self._script("REMOVE_VIEWER", keys, [sid, record_key]))

    async def viewers(self, record_key: str) -> list[Viewer]:
        return viewers_from(await self._call(lambda r: r.hvals(self.keys.viewers(record_key))))

    # -- edit locks (COL-4) -----------------------------------------------------------------
    async def acquire_lock(
        self, record_key: str, user_id: str, name: str, ttl_seconds: float
    ) -> tuple[bool, EditLock]:
        wanted = EditLock(user_id, name, time.time() + ttl_seconds)
        entry = json.dumps(
            {"userId": wanted.user_id, "name": wanted.name, "expiresAt": wanted.expires_at}
        )
        ttl_ms = max(1, math.ceil(ttl_seconds * 1000))
        taken, raw = await self._script(
            "ACQUIRE_LOCK", [self.keys.lock(record_key)], [user_id, entry, ttl_ms]
        )
        return bool(int(taken)), lock_from(raw)

    async def release_lock(self, record_key: str, user_id: str) -> bool:
        return bool(
            int(await self._script("RELEASE_LOCK", [self.keys.lock(record_key)], [user_id]))
        )

    async def get_lock(self, record_key: str) -> EditLock | None:
        raw = await self._call(lambda r: r.get(self.keys.lock(record_key)))
        return None if raw is None else lock_from(raw)

    # -- leases: the edit lock's take-or-refresh script, with this node as the holder ----------
    async def hold_lease(self, name: str, ttl_seconds: float) -> bool:
        entry = json.dumps(
            {"userId": self.node_id, "name": self.node_id, "expiresAt": time.time() + ttl_seconds}
        )
        ttl_ms = max(1, math.ceil(ttl_seconds * 1000))
        taken, _ = await self._script(
            "ACQUIRE_LOCK", [self.keys.lease(name)], [self.node_id, entry, ttl_ms]
        )
        return bool(int(taken))

    async def release_lease(self, name: str) -> None:
        await self._script("RELEASE_LOCK", [self.keys.lease(name)], [self.node_id])
