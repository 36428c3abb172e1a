"""Profile `collab` (SPEC §10): presence, viewing, edit locks, typing, notifications, activity.

`CollabFeature.register` plugs the client events into the gateway and the activity route into
the API; `CollabRecordService` (the records service `build_app` uses) writes notifications in
the change's transaction and tells the lock service about deletions.
"""

from __future__ import annotations

from fastapi import APIRouter

from harness.spec import ClientEvent

from ..realtime.gateway import RealtimeGateway
from .activity import router as activity_router
from .locks import LockService
from .notifications import CollabRecordService
from .presence import PresenceService
from .reaped import ReapedNodeAnnouncer
from .rooms import RoomService
from .shared import CollabContext

__all__ = ["CollabContext", "CollabFeature", "CollabRecordService"]


class CollabFeature:
    def __init__(self, ctx: CollabContext) -> None:
        self.ctx = ctx
        self.presence = PresenceService(ctx)
        self.rooms = RoomService(ctx)
        self.locks = LockService(ctx)
        self.presence.offline_listeners.append(self.locks.release_all)
        # A crashed node announces nothing; whoever reaps it speaks for it (COL-1, CLU-1).
        ReapedNodeAnnouncer(self.presence, self.rooms, self.locks).listen_to(ctx.state)

    @property
    def router(self) -> APIRouter:
        return activity_router

    def register(self, gateway: RealtimeGateway) -> None:
        gateway.add_session_listeners(self.presence.connected, self.presence.disconnected)
        gateway.add_session_listeners(disconnected=self.rooms.disconnected)
        handlers = {
            ClientEvent.PRESENCE_LIST: self.presence.list,
            ClientEvent.RECORD_VIEW: self.rooms.view,
            ClientEvent.RECORD_LEAVE: self.rooms.leave,
            ClientEvent.TYPING: self.rooms.typing,
            ClientEvent.RECORD_EDIT_START: self.locks.start,
            ClientEvent.RECORD_EDIT_STOP: self.locks.stop,
        }
        for event, handler in handlers.items():
            gateway.add_handler(event, handler)

    def attach(self, records: object) -> None:
        """Deletion ends the record's lock (§15); any records service with listeners will do."""
        listeners = getattr(records, "deletion_listeners", None)
        if isinstance(listeners, list):
            listeners.append(self.locks.record_deleted)

    async def stop(self) -> None:
        await self.ctx.stop()
