"""Faults of profile `core`, redaction and streams (§6, §7): per-recipient copies, seq
numbering, sync and replay. Each breaks one requirement the way a plausible server bug would.

Installed by `fault_server.py`; `fault_switch.broken` decides on every call whether a fault is
on. Records, events and mutations: `core_faults`; transport, auth, limits: `core_wire_faults`.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from typing import Any

from fault_switch import Method, broken, patch

from harness.spec import ErrorCode
from reference_server.domain.contracts import DomainError
from reference_server.domain.records import RecordService
from reference_server.realtime.fanout import SocketPublisher, variants_marker
from reference_server.realtime.sync import StreamReplayer, _Plan
from reference_server.redaction_adapter import DomainRedaction
from reference_server.store._sql_uow import SqlUnitOfWork
from reference_server.store.base import StoredEvent
from reference_server.store.sqlite import SqliteRecordStore

__all__ = ["FAULTS", "install"]

_UNFLUSHED_S = 30.0  # CLU-2: how far back the event log is lost at a restart

FAULTS: dict[str, str] = {
    "RED-1/events": "live events are not redacted for non-owners",
    "RED-1/replay": "replayed events are not redacted for non-owners",
    "RED-1/rest": "REST answers are not redacted for non-owners",
    "RED-2": "redaction is decided per room: the owner gets the redacted copy",
    "RED-3": "the non-owners' copy of an event gets its own eventId",
    "RED-4": "a VERSION_CONFLICT quotes the whole current record",
    "STR-1": "a seq is skipped on every stream",
    "STR-2/descending": "sync replays newest first",
    "STR-2/ack-first": "sync acks before it replays",
    "STR-3": "a cursor above head replays nothing instead of a reset",
    "STR-3/window": "a cursor exactly replayWindowEvents behind is a reset (off by one)",
    "STR-4": "sync replays the caller's own streams before refusing a foreign one",
    "STR-5": "sync ignores cursors for the user: stream",
    "CLU-2": "the event log is written behind: its last seconds are lost in a restart",
}


def _redaction_faults() -> None:
    def room_payload(orig: Any) -> Any:
        def patched(self: SocketPublisher, event: StoredEvent) -> dict[str, Any]:
            owner, other = self._variants(event)
            if broken("RED-1/events"):
                return owner
            if broken("RED-2") and other is not None:
                return other
            if broken("RED-3") and other is not None and event.owner_id is not None:
                return variants_marker(event.owner_id, owner, {**other, "eventId": _new_id()})
            return dict(orig(self, event))

        return patched

    def record_for(orig: Any) -> Any:
        def patched(self: DomainRedaction, viewer_id: str, entity_type: str, record: Any) -> Any:
            if broken("RED-1/rest"):
                return dict(record)
            return orig(self, viewer_id, entity_type, record)

        return patched

    def conflict(orig: Method) -> Method:
        async def patched(self: RecordService, uow: Any, actor: Any, request: Any, op: Any) -> Any:
            try:
                return await orig(self, uow, actor, request, op)
            except DomainError as exc:
                if not broken("RED-4") or exc.code is not ErrorCode.VERSION_CONFLICT:
                    raise
                current = await uow.get_record(request.entity_type, request.record_id)
                details = {**(exc.details or {}), "current": current}
                raise DomainError(exc.code, exc.message, details) from None

        return patched

    def event_for(orig: Any) -> Any:
        def patched(self: DomainRedaction, viewer_id: str | None, event: StoredEvent) -> Any:
            return event.wire() if broken("RED-1/replay") else orig(self, viewer_id, event)

        return patched

    patch(SocketPublisher, "payload_for_room", room_payload)
    patch(DomainRedaction, "event_for", event_for)
    patch(DomainRedaction, "record_for", record_for)
    patch(RecordService, "_apply", conflict)


def _stream_faults() -> None:
    def stamping(orig: Any) -> Any:
        def patched(self: SqlUnitOfWork, event: Any, seq: int) -> StoredEvent:
            # Seq 2 of every stream is never handed out: a lost event to every client.
            return orig(self, event, seq + 1 if broken("STR-1") and seq >= 2 else seq)

        return patched

    def planning(orig: Method) -> Method:
        async def patched(self: StreamReplayer, stream: str, cursor: int, head: int) -> _Plan:
            if broken("STR-3") and cursor > head:
                return _Plan(stream, head, ())
            if broken("STR-3/window") and head - cursor >= self._limits.replayWindowEvents:
                return _Plan(stream, head, None)
            plan: _Plan = await orig(self, stream, cursor, head)
            if broken("STR-2/descending") and plan.events:
                return _Plan(plan.stream, plan.head, tuple(reversed(plan.events)))
            return plan

        return patched

    def syncing(orig: Method) -> Method:
        async def patched(
            self: StreamReplayer, actor: Any, payload: Any, send: Any, *rest: Any
        ) -> Any:
            cursors = payload.get("cursors") if isinstance(payload, Mapping) else None
            if not isinstance(cursors, Mapping):
                return await orig(self, actor, payload, send, *rest)
            own = {s: c for s, c in cursors.items() if s in actor.streams}
            if broken("STR-4") and len(own) < len(cursors):
                await orig(self, actor, {"cursors": own}, send, *rest)
                raise DomainError(ErrorCode.FORBIDDEN, "stream is not one of the caller's")
            if broken("STR-5"):
                kept = {s: c for s, c in cursors.items() if not s.startswith("user:")}
                payload = {**payload, "cursors": kept}
            if broken("STR-2/ack-first"):
                held: list[StoredEvent] = []

                async def hold(event: StoredEvent) -> None:
                    held.append(event)

                answer = await orig(self, actor, payload, hold, *rest)
                _later(_send_all(send, held))
                return answer
            return await orig(self, actor, payload, send, *rest)

        return patched

    patch(SqlUnitOfWork, "stamp", stamping)
    patch(StreamReplayer, "_plan", planning)
    patch(StreamReplayer, "sync", syncing)


_BACKGROUND: set[asyncio.Task[None]] = set()


def _later(work: Any) -> None:
    task = asyncio.create_task(work)
    _BACKGROUND.add(task)
    task.add_done_callback(_BACKGROUND.discard)


async def _send_all(send: Any, events: list[StoredEvent]) -> None:
    await asyncio.sleep(0.05)  # the ack is on its way first
    for event in events:
        await send(event)


def _new_id() -> str:
    return str(uuid.uuid4())


def _durability_faults() -> None:
    def opening(orig: Method) -> Method:
        async def patched(self: SqliteRecordStore) -> None:
            await orig(self)
            if broken("CLU-2") and self._writer is not None:
                lost_after = self.clock.now() - _UNFLUSHED_S
                await self._writer.execute("DELETE FROM events WHERE stored_at > ?", (lost_after,))

        return patched

    patch(SqliteRecordStore, "open", opening)


def install() -> None:
    _redaction_faults()
    _stream_faults()
    _durability_faults()
