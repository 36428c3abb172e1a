"""In-process ClusterState for a single node: connections, presence, viewers, edit locks and
leases (which the one node always holds)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from .base import EditLock, Viewer

__all__ = ["MemoryClusterState"]


class MemoryClusterState:
    """Everything lives in dicts; one event loop means no locking is needed between awaits."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._connections: dict[str, set[str]] = {}
        self._viewers: dict[str, dict[str, Viewer]] = {}  # record_key -> sid -> viewer
        self._locks: dict[str, EditLock] = {}
        self._open = False

    async def open(self) -> None:
        self._open = True

    async def close(self) -> None:
        self._open = False

    async def ping(self) -> bool:
        return self._open

    # -- connections (LIM-3) and presence (COL-1) ------------------------------------------
    async def add_connection(self, user_id: str, sid: str, limit: int) -> int | None:
        sids = self._connections.setdefault(user_id, set())
        if sid not in sids and len(sids) >= limit:
            if not sids:
                del self._connections[user_id]
            return None
        sids.add(sid)
        return len(sids)

    async def remove_connection(self, user_id: str, sid: str) -> int:
        sids = self._connections.get(user_id)
        if sids is None:
            return 0
        sids.discard(sid)
        if not sids:
            del self._connections[user_id]
            return 0
        return len(sids)

    async def connection_count(self, user_id: str) -> int:
        return len(self._connections.get(user_id, ()))

    async def online_users(self, user_ids: Sequence[str] | None = None) -> dict[str, int]:
        if user_ids is None:
            return {u: len(s) for u, s in self._connections.items()}
        return {u: len(self._connections[u]) for u in user_ids if u in self._connections}

    # -- record rooms (COL-3) ---------------------------------------------------------------
    def _distinct(self, record_key: str) -> list[Viewer]:
        by_user: dict[str, Viewer] = {}
        for viewer in self._viewers.get(record_key, {}).values():
            by_user.setdefault(viewer.user_id, viewer)
        return sorted(by_user.values(), key=lambda v: v.user_id)

    async def add_viewer(self, record_key: str, sid: str, viewer: Viewer) -> list[Viewer]:
        self._viewers.setdefault(record_key, {})[sid] = viewer
        return self._distinct(record_key)

    async def remove_viewer(self, record_key: str, sid: str) -> list[Viewer]:
        room = self._viewers.get(record_key)
        if room is not None:
            room.pop(sid, None)
            if not room:
                del self._viewers[record_key]
        return self._distinct(record_key)

    async def viewers(self, record_key: str) -> list[Viewer]:
        return self._distinct(record_key)

    # -- edit locks (COL-4) -----------------------------------------------------------------
    def _live_lock(self, record_key: str) -> EditLock | None:
        lock = self._locks.get(record_key)
        if lock is not None and lock.expires_at <= self._clock():
            del self._locks[record_key]
            return None
        return lock

    async def acquire_lock(
        self, record_key: str, user_id: str, name: str, ttl_seconds: float
    ) -> tuple[bool, EditLock]:
        current = self._live_lock(record_key)
        if current is not None and current.user_id != user_id:
            return False, current
        lock = EditLock(user_id, name, self._clock() + ttl_seconds)
        self._locks[record_key] = lock
        return True, lock

    async def release_lock(self, record_key: str, user_id: str) -> bool:
        current = self._live_lock(record_key)
        if current is None or current.user_id != user_id:
            return False
        del self._locks[record_key]
        return True

    async def get_lock(self, record_key: str) -> EditLock | None:
        return self._live_lock(record_key)

    # -- leases: there is no other node to hand them to ----------------------------------------
    async def hold_lease(self, name: str, ttl_seconds: float) -> bool:
        return True

    async def release_lease(self, name: str) -> None:
        return None
