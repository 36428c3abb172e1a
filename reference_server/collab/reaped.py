"""What a crashed node's users never announced: offline, viewing, and the locks they held.

A node killed outright runs no disconnect handler. The cluster state reaps its entries once its
heartbeat expires and tells exactly one surviving node what went (`state.reaping.ReapedNode`).
That node then does what the dead one would have done on each disconnect:

- users left without a socket anywhere enter the presence grace period, and go offline after it
  (COL-1) with their locks released as `stopped` (§15); a grace period the dead node was
  timing is finished here;
- record rooms that lost a viewing user get the new `user:viewing` (COL-3);
- the dead node's lock bookkeeping and expiry timers move here, so a lock whose holder is still
  online elsewhere still ends with `expired` (COL-4).

A backend without reaping (one in-process node never outlives itself) simply has no listeners.
"""

from __future__ import annotations

from collections import defaultdict

from ..domain.contracts import Actor
from ..state.base import Viewer
from ..state.reaping import ReapedNode
from .locks import LockService, ref_of_key
from .presence import PresenceService, team_of_grace_key, team_of_roster_key
from .rooms import RoomService
from .shared import RecordRef

__all__ = ["ReapedNodeAnnouncer"]


def _actor(viewer: Viewer, team_id: str) -> Actor:
    # Presence announcements and lock releases need the team and name only; the state's
    # entries keep no broker.
    return Actor(user_id=viewer.user_id, team_id=team_id, broker_id="", name=viewer.name)


class ReapedNodeAnnouncer:
    """A reap listener (`RedisClusterState.reap_listeners`) for the collab services."""

    def __init__(self, presence: PresenceService, rooms: RoomService, locks: LockService) -> None:
        self.presence = presence
        self.rooms = rooms
        self.locks = locks

    def listen_to(self, state: object) -> None:
        """Subscribe when the state reaps dead nodes; any state with `reap_listeners` will do."""
        listeners = getattr(state, "reap_listeners", None)
        if isinstance(listeners, list):
            listeners.append(self.node_reaped)

    async def node_reaped(self, reaped: ReapedNode) -> None:
        rosters: dict[str, tuple[str, Viewer]] = {}  # user id → (team id, viewer)
        in_grace: list[Actor] = []  # users whose grace period the dead node was timing
        rooms: dict[str, list[Viewer]] = defaultdict(list)  # record key → viewers gone
        lock_keys: dict[str, list[str]] = defaultdict(list)  # user id → record keys locked
        for key, sid, viewer in reaped.viewers:
            team_id = team_of_roster_key(key)
            holder = self.locks.held.owner_of(key)
            grace_team = team_of_grace_key(key)
            if team_id is not None:
                rosters[viewer.user_id] = (team_id, viewer)
            elif grace_team is not None:
                in_grace.append(_actor(viewer, grace_team))
            elif holder is not None:
                lock_keys[holder].append(sid)  # the set's member is the record key
            elif ref_of_key(key) is not None:
                rooms[key].append(viewer)
        # Locks first: their bookkeeping must be back before an offline releases them.
        for user_id, keys in lock_keys.items():
            name = rosters[user_id][1].name if user_id in rosters else user_id
            await self.locks.adopt(user_id, name, keys)
        for key, gone in rooms.items():
            ref = ref_of_key(key)
            assert ref is not None
            await self._room_lost(ref, gone)
        for user_id in reaped.offline_users:
            if user_id in rosters:
                team_id, viewer = rosters[user_id]
                await self.presence.last_socket_gone(_actor(viewer, team_id))
        for actor in in_grace:
            await self.presence.grace_orphaned(actor)

    async def _room_lost(self, ref: RecordRef, gone: list[Viewer]) -> None:
        after = await self.rooms.ctx.state.viewers(ref.key)
        before = {v.user_id: v for v in [*after, *gone]}
        await self.rooms.viewers_changed(ref, list(before.values()), after)
