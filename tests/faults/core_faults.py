"""Faults of profile `core`, data path (§4–§8): records, data events, redaction, streams and
replay, socket mutations. Each breaks one requirement the way a plausible server bug would.

Installed by `fault_server.py`; `fault_switch.broken` decides on every call whether a fault is
on. The transport, auth, limits, info and metrics faults are in `core_wire_faults`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any

from fault_switch import Method, broken, patch

from harness.spec import FIELDS, READ_ONLY_FIELDS, Action, ErrorCode
from reference_server.domain import records as records_module
from reference_server.domain.contracts import DomainError
from reference_server.domain.records import RecordService
from reference_server.domain.redaction import redact_fields
from reference_server.realtime import gateway as gateway_module
from reference_server.realtime.fanout import SocketPublisher, variants_marker
from reference_server.realtime.gateway import RealtimeGateway
from reference_server.realtime.sync import StreamReplayer, _Plan
from reference_server.redaction_adapter import DomainRedaction
from reference_server.rest import records as rest_records
from reference_server.store._sql_uow import SqlUnitOfWork
from reference_server.store.base import StoredEvent

__all__ = ["FAULTS", "install"]

FAULTS: dict[str, str] = {
    "REC-1": "private records are visible to the owner's team",
    "REC-2": "a replayed Idempotency-Key answers without Idempotent-Replayed",
    "REC-3": "lists come oldest first",
    "REC-4": "a record the caller may not see answers 403 FORBIDDEN instead of 404",
    "REC-5": "If-Match is ignored",
    "REC-6": "DELETE answers 200 instead of 204",
    "REC-7": "an unknown field is accepted and stored",
    "EVT-1": "a team event also reaches the other teams of the broker",
    "EVT-2": "an event is sent to each addressed room, so the owner gets team events twice",
    "EVT-3": "the changes of an update carry the whole record",
    "EVT-4": "socket mutations are labelled via api",
    "EVT-5": "events are published before the transaction commits",
    "EVT-6": "an updated event carries the whole record beside its changes",
    "RED-1/events": "live events are not redacted for non-owners",
    "RED-1/rest": "REST answers are not redacted for non-owners",
    "RED-2": "redaction is decided per room: the owner gets the redacted copy",
    "RED-3": "the non-owners' copy of an event gets its own eventId",
    "RED-4": "a VERSION_CONFLICT quotes the whole current record",
    "STR-1": "a seq is skipped on every stream",
    "STR-2/descending": "sync replays newest first",
    "STR-2/ack-first": "sync acks before it replays",
    "STR-3": "a cursor above head replays nothing instead of a reset",
    "STR-4": "sync replays the caller's own streams before refusing a foreign one",
    "STR-5": "sync ignores cursors for the user: stream",
    "MUT-1": "the mutate ack of a delete carries no data",
    "MUT-2": "idempotency keys are ignored",
    "MUT-3": "mutationIds are remembered per socket, not per user",
}

# The service running a change, so the fault in `_append_all` can publish from inside it.
_CHANGING: ContextVar[RecordService | None] = ContextVar("changing", default=None)
_SLOW_COMMIT_S = 0.3


def _records_faults() -> None:
    original_can_see = records_module.can_see

    def can_see(actor: Any, record: Mapping[str, Any]) -> bool:
        if broken("REC-1") and record.get("visibility") == "private":
            return bool(record.get("teamId") == actor.team_id)
        return original_can_see(actor, record)

    def outcome_response(orig: Any) -> Any:
        def patched(request: Any, actor: Any, entity_type: str, outcome: Any) -> Any:
            response = orig(request, actor, entity_type, outcome)
            if broken("REC-2") and "Idempotent-Replayed" in response.headers:
                del response.headers["Idempotent-Replayed"]
            if broken("REC-6") and response.status_code == 204:
                response.status_code = 200
            return response

        return patched

    def listing(orig: Method) -> Method:
        async def patched(self: RecordService, *args: Any, **kwargs: Any) -> Any:
            rows, total = await orig(self, *args, **kwargs)
            return (list(reversed(rows)), total) if broken("REC-3") else (rows, total)

        return patched

    def getting(orig: Method) -> Method:
        async def patched(self: RecordService, actor: Any, entity_type: str, rid: str) -> Any:
            try:
                return await orig(self, actor, entity_type, rid)
            except DomainError as exc:
                if not broken("REC-4") or exc.code is not ErrorCode.NOT_FOUND:
                    raise
                if await self.store.get_record(entity_type, rid) is not None:
                    raise DomainError(ErrorCode.FORBIDDEN, "not yours") from None
                raise

        return patched

    original_if_match = rest_records.parse_if_match

    def parse_if_match(value: str | None) -> int | None:
        return None if broken("REC-5") else original_if_match(value)

    original_create = records_module.validate_create

    def validate_create(entity_type: str, body: object) -> dict[str, Any]:
        if not broken("REC-7") or not isinstance(body, dict):
            return original_create(entity_type, body)
        known = set(FIELDS.get(entity_type, {})) | set(READ_ONLY_FIELDS)
        stray = {k: v for k, v in body.items() if k not in known}
        kept = {k: v for k, v in body.items() if k in known}
        return {**original_create(entity_type, kept), **stray}

    records_module.can_see = can_see
    patch(rest_records, "_outcome_response", outcome_response)
    patch(RecordService, "list", listing)
    patch(RecordService, "get", getting)
    rest_records.parse_if_match = parse_if_match
    records_module.validate_create = validate_create


def _event_faults() -> None:
    def publishing(orig: Method) -> Method:
        async def patched(self: SocketPublisher, events: Any) -> None:
            for event in events:
                if broken("EVT-1") and event.stream.startswith("team:"):
                    # One emit to both rooms: no socket gets it twice, but the broker's
                    # other teams get it at all.
                    rooms = [event.stream, f"broker:{event.payload.get('brokerId')}"]
                    await self._sio.emit(event.name, self.payload_for_room(event), room=rooms)
                else:
                    await orig(self, [event])
                owner_room = f"user:{event.owner_id}"
                if broken("EVT-2") and event.owner_id and event.stream != owner_room:
                    await self._sio.emit(event.name, self.payload_for_room(event), room=owner_room)

        return patched

    def changed(orig: Method) -> Method:
        async def patched(self: RecordService, actor: Any, request: Any, record: Any,
                          action: Action, changes: Any, status: int) -> Any:  # fmt: skip
            if broken("EVT-3") and action is Action.UPDATED:
                changes = dict(record)
            if broken("EVT-4") and request.via == "socket":
                request = dataclasses.replace(request, via="api")
            applied = await orig(self, actor, request, record, action, changes, status)
            if broken("EVT-6") and action is Action.UPDATED:
                outcome, (event, *extra) = applied
                shown = redact_fields(request.entity_type, record)
                bulky = dataclasses.replace(event, payload={**event.payload, "record": shown})
                return outcome, [bulky, *extra]
            return applied

        return patched

    def changing(orig: Method) -> Method:
        async def patched(self: RecordService, actor: Any, request: Any) -> Any:
            token = _CHANGING.set(self)
            try:
                return await orig(self, actor, request)
            finally:
                _CHANGING.reset(token)

        return patched

    original_append_all = records_module._append_all

    async def append_all(uow: Any, events: Any) -> list[StoredEvent]:
        stored = await original_append_all(uow, events)
        service = _CHANGING.get()
        if broken("EVT-5") and service is not None and service.publisher is not None:
            await service.publisher.publish(stored)
            await asyncio.sleep(_SLOW_COMMIT_S)  # a slow commit makes the early publish visible
        return stored

    def after_commit(orig: Method) -> Method:
        async def patched(self: RecordService, events: Any) -> None:
            if not broken("EVT-5"):  # already published from inside the transaction
                await orig(self, events)

        return patched

    patch(SocketPublisher, "publish", publishing)
    patch(RecordService, "_changed", changed)
    patch(RecordService, "change", changing)
    records_module._append_all = append_all
    patch(RecordService, "_publish", after_commit)


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

    patch(SocketPublisher, "payload_for_room", room_payload)
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
            plan: _Plan = await orig(self, stream, cursor, head)
            if broken("STR-2/descending") and plan.events:
                return _Plan(plan.stream, plan.head, tuple(reversed(plan.events)))
            return plan

        return patched

    def syncing(orig: Method) -> Method:
        async def patched(self: StreamReplayer, actor: Any, payload: Any, send: Any) -> Any:
            cursors = payload.get("cursors") if isinstance(payload, Mapping) else None
            if not isinstance(cursors, Mapping):
                return await orig(self, actor, payload, send)
            own = {s: c for s, c in cursors.items() if s in actor.streams}
            if broken("STR-4") and len(own) < len(cursors):
                await orig(self, actor, {"cursors": own}, send)
                raise DomainError(ErrorCode.FORBIDDEN, "stream is not one of the caller's")
            if broken("STR-5"):
                kept = {s: c for s, c in cursors.items() if not s.startswith("user:")}
                payload = {**payload, "cursors": kept}
            if broken("STR-2/ack-first"):
                held: list[StoredEvent] = []

                async def hold(event: StoredEvent) -> None:
                    held.append(event)

                answer = await orig(self, actor, payload, hold)
                _later(_send_all(send, held))
                return answer
            return await orig(self, actor, payload, send)

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


def _mutation_faults() -> None:
    original_ack = gateway_module.mutate_ack

    def mutate_ack(actor: Any, request: Any, outcome: Any, redaction: Any) -> Any:
        ack = original_ack(actor, request, outcome, redaction)
        if broken("MUT-1") and outcome.record is None:
            return {**ack, "data": None}
        return ack

    original_check_key = records_module.check_key

    def check_key(request: Any) -> str | None:
        key = original_check_key(request)
        return None if broken("MUT-2") else key

    def per_socket(orig: Method) -> Method:
        async def patched(self: RealtimeGateway, session: Any, payload: Any) -> Any:
            if broken("MUT-3") and isinstance(payload, Mapping):
                key = payload.get("mutationId")
                if isinstance(key, str):
                    payload = {**payload, "mutationId": f"{session.sid[:8]}{key}"[:64]}
            return await orig(self, session, payload)

        return patched

    gateway_module.mutate_ack = mutate_ack
    records_module.check_key = check_key
    patch(RealtimeGateway, "_on_mutate", per_socket)


def _new_id() -> str:
    return str(uuid.uuid4())


def install() -> None:
    _records_faults()
    _event_faults()
    _redaction_faults()
    _stream_faults()
    _mutation_faults()
