"""Record rooms: viewing (COL-3), typing (COL-6), and who may be in them (COL-9).

A socket joins a record's room only through `record:view`, after the record's visibility was
checked for its user; visibility never changes after creation, so the room holds only sockets
whose users may see the record. Room events are ephemeral: no stream, no seq.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.spec import ServerEvent

from ..realtime.acks import Ack, ack_ok, validation_error
from ..realtime.session import SocketSession
from ..state.base import Viewer
from .shared import CollabContext, RecordRef, record_ref, room_of

__all__ = ["TYPING_STATES", "RoomService"]

TYPING_STATES = ("start", "stop")


def _viewers_json(viewers: list[Viewer]) -> list[dict[str, str]]:
    return [{"userId": v.user_id, "name": v.name} for v in viewers]


class RoomService:
    def __init__(self, ctx: CollabContext) -> None:
        self.ctx = ctx
        self._viewing: dict[str, dict[str, RecordRef]] = {}  # sid -> record key -> ref

    async def viewers_changed(
        self, ref: RecordRef, before: list[Viewer], after: list[Viewer]
    ) -> None:
        """`user:viewing` to the room when the set of distinct viewing users changed (COL-3)."""
        if {v.user_id for v in before} != {v.user_id for v in after}:
            payload = {**ref.wire(), "viewers": _viewers_json(after)}
            await self.ctx.emit(ServerEvent.VIEWING, payload, room_of(ref.key))

    async def view(self, session: SocketSession, payload: Any) -> Ack:
        ref = record_ref(payload)
        actor = session.actor
        await self.ctx.check_visible(actor, ref)  # NOT_FOUND: nothing joined
        if session.closed:  # gone while we checked: joining would fail, the ack goes nowhere
            return ack_ok(viewers=[])
        await self.ctx.sio.enter_room(session.sid, room_of(ref.key))
        self._viewing.setdefault(session.sid, {})[ref.key] = ref
        before = await self.ctx.state.viewers(ref.key)
        after = await self.ctx.state.add_viewer(
            ref.key, session.sid, Viewer(actor.user_id, actor.name)
        )
        if session.closed:
            # Its disconnect cleanup may have run before add_viewer: undo, or it stays a ghost.
            self._viewing.pop(session.sid, None)
            await self._leave(session.sid, ref)
            return ack_ok(viewers=[])
        await self.viewers_changed(ref, before, after)
        return ack_ok(viewers=_viewers_json(after))

    async def _leave(self, sid: str, ref: RecordRef) -> None:
        await self.ctx.sio.leave_room(sid, room_of(ref.key))
        before = await self.ctx.state.viewers(ref.key)
        after = await self.ctx.state.remove_viewer(ref.key, sid)
        await self.viewers_changed(ref, before, after)

    async def leave(self, session: SocketSession, payload: Any) -> Ack:
        """Always `{"ok": true}` (§15), even for a record the socket was not viewing."""
        if isinstance(payload, Mapping):
            key = f"{payload.get('entityType')}:{payload.get('entityId')}"
            ref = self._viewing.get(session.sid, {}).pop(key, None)
            if ref is not None:
                await self._leave(session.sid, ref)
        return ack_ok()

    async def disconnected(self, session: SocketSession, remaining: int) -> None:
        for ref in self._viewing.pop(session.sid, {}).values():
            await self._leave(session.sid, ref)

    async def typing(self, session: SocketSession, payload: Any) -> Ack:
        ref = record_ref(payload)
        state = payload.get("state")
        if state not in TYPING_STATES:
            raise validation_error("state must be start or stop", "state")
        actor = session.actor
        await self.ctx.check_visible(actor, ref)
        event = {**ref.wire(), "userId": actor.user_id, "name": actor.name, "state": state}
        await self.ctx.emit(ServerEvent.TYPING, event, room_of(ref.key), skip_user=actor.user_id)
        return ack_ok()
