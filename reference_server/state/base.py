"""The cross-connection seam: state that every node of a cluster must agree on (CLU-1).

In-process for one node (`state.memory`), Redis for a cluster (`state.redis`). Everything that
is not a stored record or event but must hold "across the cluster" lives here: connection
counts (LIM-3), presence (COL-1/2), record viewers (COL-3), edit locks (COL-4), and the leases
by which exactly one node at a time does a cluster-wide chore (the outbox relay).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

__all__ = ["ClusterState", "EditLock", "Viewer"]


@dataclass(frozen=True, slots=True)
class EditLock:
    user_id: str
    name: str
    expires_at: float  # epoch seconds


@dataclass(frozen=True, slots=True)
class Viewer:
    user_id: str
    name: str


class ClusterState(Protocol):
    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def ping(self) -> bool: ...

    # -- connections (LIM-3) and presence (COL-1) ------------------------------------------
    async def add_connection(self, user_id: str, sid: str, limit: int) -> int | None:
        """Register a socket unless the user already has `limit`; the new count, or None."""

    async def remove_connection(self, user_id: str, sid: str) -> int:
        """Unregister a socket; the user's remaining count across the cluster."""

    async def connection_count(self, user_id: str) -> int: ...

    async def online_users(self, user_ids: Sequence[str] | None = None) -> dict[str, int]:
        """Users with at least one socket and their socket counts."""

    # -- record rooms (COL-3) ---------------------------------------------------------------
    async def add_viewer(self, record_key: str, sid: str, viewer: Viewer) -> list[Viewer]:
        """Add; the distinct viewing users after it."""

    async def remove_viewer(self, record_key: str, sid: str) -> list[Viewer]: ...

    async def viewers(self, record_key: str) -> list[Viewer]: ...

    # -- edit locks (COL-4) -----------------------------------------------------------------
    async def acquire_lock(
        self, record_key: str, user_id: str, name: str, ttl_seconds: float
    ) -> tuple[bool, EditLock]:
        """Take or refresh; (taken, the lock now in force — the holder's when not taken)."""

    async def release_lock(self, record_key: str, user_id: str) -> bool: ...

    async def get_lock(self, record_key: str) -> EditLock | None: ...

    # -- leases: one node at a time does a cluster-wide chore --------------------------------
    async def hold_lease(self, name: str, ttl_seconds: float) -> bool:
        """Take the named lease for this node, or renew it when this node holds it; False while
        another node holds it. It lapses `ttl_seconds` after the last take or renewal, so a
        holder that dies hands it on by itself."""

    async def release_lease(self, name: str) -> None:
        """Give the lease up at once if this node holds it (a node that stops cleanly)."""
