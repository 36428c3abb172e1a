"""Faults of profile `collab` (§10): each breaks one COL-* rule the way a plausible bug would.

Installed by `fault_server.py`; `fault_switch.broken` decides on every call whether a fault is on.
"""

from __future__ import annotations

from typing import Any

from fault_switch import Method, broken, patch

from harness.spec import ServerEvent
from reference_server.collab import activity, notifications
from reference_server.collab.locks import LockService
from reference_server.collab.presence import PresenceService
from reference_server.collab.rooms import RoomService
from reference_server.collab.shared import CollabContext
from reference_server.domain.records import RecordService

__all__ = ["FAULTS", "install"]

FAULTS: dict[str, str] = {
    "COL-1": "every socket announces online, not only the user's first in the cluster",
    "COL-2": "presence:list counts one connection per user",
    "COL-3": "the record:view ack lists no viewers",
    "COL-4": "another user's record:edit:start takes a held lock",
    "COL-5": "the domain no longer consults edit locks",
    "COL-6": "typing is echoed to the sender's sockets",
    "COL-7": "every notification's kind is record.updated",
    "COL-8": "the activity feed is not redacted for the caller",
    "COL-9": "record:view and typing skip the visibility check",
}


def install() -> None:
    patch(
        PresenceService,
        "connected",
        lambda orig: (
            lambda self, session, count: orig(self, session, 1 if broken("COL-1") else count)
        ),
    )

    def listing(orig: Method) -> Method:
        async def patched(self: Any, session: Any, payload: Any) -> Any:
            ack = await orig(self, session, payload)
            if broken("COL-2"):
                ack["online"] = [{**entry, "connections": 1} for entry in ack["online"]]
            return ack

        return patched

    def viewing(orig: Method) -> Method:
        async def patched(self: Any, session: Any, payload: Any) -> Any:
            ack = await orig(self, session, payload)
            return {**ack, "viewers": []} if broken("COL-3") else ack

        return patched

    def locking(orig: Method) -> Method:
        async def patched(self: Any, session: Any, payload: Any) -> Any:
            if broken("COL-4") and isinstance(payload, dict):
                key = f"{payload.get('entityType')}:{payload.get('entityId')}"
                held = await self.ctx.state.get_lock(key)
                if held is not None:
                    await self.ctx.state.release_lock(key, held.user_id)
            return await orig(self, session, payload)

        return patched

    async def unchecked() -> None:
        return None

    def feed(orig: Method) -> Method:
        async def patched(store: Any, redaction: Any, actor: Any, limit: int) -> Any:
            if broken("COL-8"):
                events = await store.recent_events(actor.streams, limit, None)
                return [e.wire() for e in events if ":" in e.name and e.payload.get("action")]
            return await orig(store, redaction, actor, limit)

        return patched

    original_notification = notifications.notification_for

    def notification_for(*args: Any) -> Any:
        event = original_notification(*args)
        if event is None or not broken("COL-7"):
            return event
        payload = {**event.payload, "kind": "record.updated"}
        return type(event)(event.stream, event.name, payload, event.owner_id, event.entity_type)

    patch(PresenceService, "list", listing)
    patch(RoomService, "view", viewing)
    patch(LockService, "start", locking)
    patch(
        RecordService,
        "_check_lock",
        lambda orig: (
            lambda self, actor, request: (
                unchecked() if broken("COL-5") else orig(self, actor, request)
            )
        ),
    )
    patch(
        CollabContext,
        "emit",
        lambda orig: (
            lambda self, event, payload, room, skip_user=None: orig(
                self,
                event,
                payload,
                room,
                skip_user=None if broken("COL-6") and event == ServerEvent.TYPING else skip_user,
            )
        ),
    )
    patch(
        CollabContext,
        "check_visible",
        lambda orig: (
            lambda self, actor, ref: unchecked() if broken("COL-9") else orig(self, actor, ref)
        ),
    )
    notifications.notification_for = notification_for  # type: ignore[assignment]
    patch(activity, "activity_feed", feed)
