"""Cluster-wide leases and sets for presence and locks, built on `ClusterState` (CLU-1).

`ClusterState` offers two atomic primitives that hold across nodes: the edit lock (a TTL lease
with an owner and a compare-and-release) and the record room (a set of entries per socket,
reported as distinct users). Presence grace and lock bookkeeping need exactly those shapes, so
they reuse them under key spaces of their own that no record key can collide with (record keys
are `{entityType}:{id}` and no entity type is called `presence` or `collab`). If the state seam
grows dedicated methods, only this module changes.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..state.base import ClusterState, EditLock, Viewer

__all__ = ["ClusterLease", "UserKeySet"]


@dataclass(frozen=True, slots=True)
class ClusterLease:
    """A named lease one holder token owns until it releases it or its TTL runs out."""

    state: ClusterState
    name: str

    @property
    def key(self) -> str:
        return f"presence:{self.name}"

    async def take(self, token: str, ttl_seconds: float) -> bool:
        taken, _ = await self.state.acquire_lock(self.key, token, token, ttl_seconds)
        return taken

    async def holder(self) -> str | None:
        lock = await self.held()
        return lock.user_id if lock is not None else None

    async def held(self) -> EditLock | None:
        """The lease in force (`user_id` is the holder token), or None."""
        return await self.state.get_lock(self.key)

    async def release(self, token: str) -> bool:
        """True for exactly one caller per taken lease: who ends it owns the transition."""
        return await self.state.release_lock(self.key, token)


@dataclass(frozen=True, slots=True)
class UserKeySet:
    """A cluster-wide set of strings per user (e.g. the record keys whose lock they hold)."""

    state: ClusterState
    kind: str

    def _room(self, user_id: str) -> str:
        return f"collab:{self.kind}:{user_id}"

    def owner_of(self, state_key: str) -> str | None:
        """The user whose set `state_key` is (as a reaped entry names it); None for others."""
        prefix = self._room("")
        return state_key.removeprefix(prefix) if state_key.startswith(prefix) else None

    async def add(self, user_id: str, member: str) -> None:
        await self.state.add_viewer(self._room(user_id), member, Viewer(member, member))

    async def discard(self, user_id: str, member: str) -> bool:
        """Remove; whether it was there (not atomic across nodes: callers tolerate a repeat)."""
        before = {v.user_id for v in await self.state.viewers(self._room(user_id))}
        await self.state.remove_viewer(self._room(user_id), member)
        return member in before

    async def members(self, user_id: str) -> list[str]:
        return [v.user_id for v in await self.state.viewers(self._room(user_id))]
