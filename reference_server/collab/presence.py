"""Presence across tabs and nodes (COL-1, COL-2).

A user is online from their first socket in the cluster until `presenceGraceSeconds` after
their last one closed. `ClusterState.add_connection` / `remove_connection` are atomic across
nodes, so exactly one node sees each 0→1 and each 1→0 change; the grace period is a cluster
lease taken at 1→0. Whoever releases that lease owns the transition: the timer (offline) or a
socket coming back in time (nothing to announce). So online and offline go out once per
transition, cluster-wide, and a second tab sends nothing.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from harness.spec import ServerEvent

from ..domain.contracts import Actor
from ..realtime.acks import Ack, ack_ok, validation_error
from ..realtime.session import SocketSession
from ..state.base import Viewer
from .cluster_keys import ClusterLease
from .shared import CollabContext

__all__ = [
    "PresenceService",
    "team_grace_key",
    "team_of_grace_key",
    "team_of_roster_key",
    "team_roster_key",
]

# How long past the grace period the lease may outlive a node that died mid-grace.
_LEASE_MARGIN_SECONDS = 30.0

_ROSTER_PREFIX = "collab:team:"
_GRACE_PREFIX = "collab:grace:"

OfflineListener = Callable[[Actor], Awaitable[None]]


def team_roster_key(team_id: str) -> str:
    """The room-like ClusterState key listing a team's connected users (COL-2)."""
    return f"{_ROSTER_PREFIX}{team_id}"


def team_grace_key(team_id: str) -> str:
    """The ClusterState key listing a team's users in a grace period this node times (one
    entry per user, owned by the timing node: reaped with it if it dies)."""
    return f"{_GRACE_PREFIX}{team_id}"


def _team_of(prefix: str, key: str) -> str | None:
    return key.removeprefix(prefix) if key.startswith(prefix) else None


def team_of_roster_key(key: str) -> str | None:
    """The team whose roster `key` is (`team_roster_key`'s inverse); None for other keys."""
    return _team_of(_ROSTER_PREFIX, key)


def team_of_grace_key(key: str) -> str | None:
    """The team whose grace list `key` is (`team_grace_key`'s inverse); None for others."""
    return _team_of(_GRACE_PREFIX, key)


class PresenceService:
    def __init__(self, ctx: CollabContext) -> None:
        self.ctx = ctx
        self.offline_listeners: list[OfflineListener] = []

    def _grace(self, user_id: str) -> ClusterLease:
        return ClusterLease(self.ctx.state, f"grace:{user_id}")

    def _payload(self, actor: Actor) -> dict[str, Any]:
        return {"userId": actor.user_id, "name": actor.name, "teamId": actor.team_id}

    async def _announce(self, event: str, actor: Actor) -> None:
        await self.ctx.emit(event, self._payload(actor), f"team:{actor.team_id}")

    # -- socket lifecycle ---------------------------------------------------------------------
    async def connected(self, session: SocketSession, count: int) -> None:
        actor = session.actor
        await self.ctx.state.add_viewer(
            team_roster_key(actor.team_id), session.sid, Viewer(actor.user_id, actor.name)
        )
        if count == 1:  # this node saw the cluster-wide 0→1
            self.ctx.spawn(self._came_online(actor), "presence online")

    async def _came_online(self, actor: Actor) -> None:
        grace = self._grace(actor.user_id)
        pending = await grace.holder()
        if pending is not None and await grace.release(pending):
            return  # back within the grace period: never went offline, nothing to announce
        await self._announce(ServerEvent.PRESENCE_ONLINE, actor)

    async def disconnected(self, session: SocketSession, remaining: int) -> None:
        actor = session.actor
        await self.ctx.state.remove_viewer(team_roster_key(actor.team_id), session.sid)
        if remaining == 0:
            await self.last_socket_gone(actor)

    async def last_socket_gone(self, actor: Actor) -> None:
        """The user has no socket left in the cluster: offline unless one opens in the grace.

        Called on a disconnect, and for a crashed node's users when the state reaps it.
        """
        token = uuid.uuid4().hex
        grace_s = float(self.ctx.limits.presenceGraceSeconds)
        if await self._grace(actor.user_id).take(token, grace_s + _LEASE_MARGIN_SECONDS):
            await self._time_grace(actor, token, grace_s)

    async def grace_orphaned(self, actor: Actor) -> None:
        """The node timing `actor`'s grace period died: time the rest of it here."""
        lease = await self._grace(actor.user_id).held()
        if lease is None:
            return  # ended already: a socket came back, or the lease ran out
        ends_at = lease.expires_at - _LEASE_MARGIN_SECONDS
        await self._time_grace(actor, lease.user_id, max(0.0, ends_at - self.ctx.clock.now()))

    async def _time_grace(self, actor: Actor, token: str, wait_s: float) -> None:
        # Listed under this node, so that if it dies too, whoever reaps it takes over.
        await self.ctx.state.add_viewer(
            team_grace_key(actor.team_id), actor.user_id, Viewer(actor.user_id, actor.name)
        )
        self.ctx.spawn(self._grace_over(actor, token, wait_s), "presence grace")

    async def _grace_over(self, actor: Actor, token: str, wait_s: float) -> None:
        await asyncio.sleep(wait_s)
        try:
            if not await self._grace(actor.user_id).release(token):
                return  # a socket came back in time and ended the grace period
            if await self.ctx.state.connection_count(actor.user_id) > 0:
                return  # one came back before the lease was even taken: still online
            await self._announce(ServerEvent.PRESENCE_OFFLINE, actor)
            for listener in self.offline_listeners:
                await listener(actor)
        finally:
            await self.ctx.state.remove_viewer(team_grace_key(actor.team_id), actor.user_id)

    # -- presence:list ------------------------------------------------------------------------
    async def list(self, session: SocketSession, payload: Any) -> Ack:
        if payload is not None and not isinstance(payload, Mapping):
            raise validation_error("presence:list takes an object")
        actor = session.actor
        roster = await self.ctx.state.viewers(team_roster_key(actor.team_id))
        counts = await self.ctx.state.online_users([v.user_id for v in roster])
        online = [
            {"userId": v.user_id, "name": v.name, "connections": counts[v.user_id]}
            for v in roster
            if counts.get(v.user_id, 0) > 0
        ]
        return ack_ok(online=online)
