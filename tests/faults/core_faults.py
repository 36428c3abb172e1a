"""Faults of profile `core`, data path (§4, §5, §8): records, data events, socket mutations.
Each breaks one requirement the way a plausible server bug would.

Installed by `fault_server.py`; `fault_switch.broken` decides on every call whether a fault is
on. Redaction and streams: `core_stream_faults`; transport, auth, limits: `core_wire_faults`.
"""

from __future__ import annotations

import asyncio
import dataclasses
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
from reference_server.realtime.fanout import SocketPublisher
from reference_server.realtime.gateway import RealtimeGateway
from reference_server.rest import records as rest_records
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


def install() -> None:
    _records_faults()
    _event_faults()
    _mutation_faults()
