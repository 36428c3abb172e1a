"""Notifications (COL-7) and the record service that writes them with the change.

When someone other than the owner updates, archives, restores or deletes a record, the owner's
`user:` stream gets a `notification` in the SAME transaction as the change (the domain's
`extra_events` hook), so it is durable and replayable exactly like the data event. It names
the record and the actor, never a field value (RED-4).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from harness.spec import Action, Op, ServerEvent

from ..domain.contracts import Actor, ChangeOutcome, ChangeRequest
from ..domain.records import RecordService
from ..store.base import NewEvent

__all__ = ["NOTIFIED_ACTIONS", "CollabRecordService", "DeletionListener", "notification_for"]

NOTIFIED_ACTIONS: dict[Action, str] = {
    Action.UPDATED: "record.updated",
    Action.ARCHIVED: "record.archived",
    Action.RESTORED: "record.restored",
    Action.DELETED: "record.deleted",
}

DeletionListener = Callable[[str, str], Awaitable[None]]


def notification_for(
    actor: Actor, entity_type: str, record: Mapping[str, Any], action: Action
) -> NewEvent | None:
    """The owner's notification for `actor`'s change, or None when none is due."""
    kind = NOTIFIED_ACTIONS.get(action)
    owner = record.get("ownerId")
    if kind is None or not owner or owner == actor.user_id:
        return None
    return NewEvent(
        stream=f"user:{owner}",
        name=ServerEvent.NOTIFICATION,
        payload={
            "kind": kind,
            "entityType": entity_type,
            "entityId": record["id"],
            "actorId": actor.user_id,
            "actorName": actor.name,
            "message": f"{actor.name} {action.value} {entity_type} {record['id']}",
        },
        owner_id=None,  # nothing sensitive in it: one payload for every recipient
    )


class CollabRecordService(RecordService):
    """`RecordService` plus COL-7 notifications and deletion listeners (a delete ends a lock)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.deletion_listeners: list[DeletionListener] = []

    async def change(self, actor: Actor, request: ChangeRequest) -> ChangeOutcome:
        outcome = await super().change(actor, request)
        if Op(request.op) is Op.DELETE and outcome.events and not outcome.duplicate:
            for listener in self.deletion_listeners:
                await listener(request.entity_type, outcome.record_id)
        return outcome

    async def extra_events_for(
        self, actor: Actor, request: ChangeRequest, record: Mapping[str, Any], action: Action
    ) -> Sequence[NewEvent]:
        event = notification_for(actor, request.entity_type, record, action)
        return () if event is None else (event,)
