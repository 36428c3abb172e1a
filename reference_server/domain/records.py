"""The domain service every transport calls: REST, Socket.IO `mutate` and the AI task runner.

One change is one store transaction holding, in this order: the idempotency claim (MUT-2), the
record read under lock, the refusals in the spec's precedence (404, 400, 423, 409), the record
write, the remembered outcome, and last its ONE data event plus any extra events
(`extra_events_for`, e.g. COL-7 notifications). Events are published only after the commit
(EVT-5). Records and events hold true values; the transport redacts for whoever it answers
(`domain.redaction`). A key that is not 1–64 characters is refused before anything else.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from harness.spec import Action, ErrorCode, Limits, Op, data_event_name

from ..state.base import EditLock
from ..store.base import NewEvent, RecordStore, StoredEvent, UnitOfWork
from .clock import Clock, SystemClock, iso_from_epoch
from .contracts import Actor, ChangeOutcome, ChangeRequest, DomainError, EventPublisher
from .idempotency import check_key, entry_for, fingerprint, replay_outcome, reused_key_error
from .ids import TimeOrderedIds
from .validation import (
    is_storable_key,
    validate_create,
    validate_entity_type,
    validate_update,
    validation_error,
)
from .visibility import can_see, lock_key, not_found, stream_for

__all__ = ["DEFAULT_LIST_LIMIT", "MAX_LIST_LIMIT", "LockLookup", "RecordService"]

MAX_LIST_LIMIT = 200  # REC-3
DEFAULT_LIST_LIMIT = 50

_log = logging.getLogger(__name__)

# Aliases: inside RecordService the name `list` is the method (REC-3), not the builtin.
_Applied = tuple[ChangeOutcome, list[NewEvent]]
_Records = tuple[list[dict[str, Any]], int]


class LockLookup(Protocol):
    """The part of `ClusterState` a change consults (COL-5); any ClusterState fits."""

    async def get_lock(self, record_key: str) -> EditLock | None: ...


class RecordService:
    """Records, versions, visibility, idempotency and data events (SPEC §4, §5, §8, §15)."""

    def __init__(
        self,
        store: RecordStore,
        state: LockLookup,
        publisher: EventPublisher | None,
        limits: Limits | None = None,
        clock: Clock | None = None,
        *,
        new_id: Callable[[], str] | None = None,
    ) -> None:
        self.store = store
        self.state = state
        self.publisher = publisher
        self.limits = limits or Limits()
        self.clock = clock or SystemClock()
        self._new_id = new_id or TimeOrderedIds(self.clock)

    # -- reads -------------------------------------------------------------------------------
    async def get(self, actor: Actor, entity_type: str, record_id: str) -> dict[str, Any]:
        """The record with true values, or NOT_FOUND when missing or not visible (REC-4)."""
        validate_entity_type(entity_type)
        if not isinstance(record_id, str) or not is_storable_key(record_id):
            # No such id was ever made, and the store would choke on it.
            raise not_found(entity_type)
        record = await self.store.get_record(entity_type, record_id)
        if record is None or not can_see(actor, record):
            raise not_found(entity_type)
        return record

    async def list(
        self,
        actor: Actor,
        entity_type: str,
        limit: int = DEFAULT_LIST_LIMIT,
        offset: int = 0,
        include_archived: bool = False,
    ) -> _Records:
        """(visible records newest first, total visible) — REC-3, §15."""
        validate_entity_type(entity_type)
        if not _is_int(limit) or not 1 <= limit <= MAX_LIST_LIMIT:
            raise validation_error(f"limit must be an integer 1 to {MAX_LIST_LIMIT}", "limit")
        if not _is_int(offset) or offset < 0:
            raise validation_error("offset must be an integer of at least 0", "offset")
        if not isinstance(include_archived, bool):
            raise validation_error("includeArchived must be true or false", "includeArchived")
        return await self.store.list_records(
            entity_type,
            user_id=actor.user_id,
            team_id=actor.team_id,
            broker_id=actor.broker_id,
            limit=limit,
            offset=offset,
            include_archived=include_archived,
        )

    # -- changes -----------------------------------------------------------------------------
    async def change(self, actor: Actor, request: ChangeRequest) -> ChangeOutcome:
        """Apply one create/update/archive/restore/delete; raises DomainError when refused."""
        op = _check_request(request)
        key = check_key(request)
        async with self.store.transaction() as uow:
            if key is not None:
                entry = await uow.claim_idempotency_key(actor.user_id, key)
                if entry is not None and not self._expired(entry.stored_at):
                    if entry.fingerprint != fingerprint(request):
                        raise reused_key_error(request.idempotency_key_field)
                    return replay_outcome(entry)
            outcome, new_events = await self._apply(uow, actor, request, op)
            if key is not None:
                await uow.remember_idempotency_key(
                    actor.user_id, key, entry_for(request, outcome, self.clock.now())
                )
            # Last: a stream's head stays locked from its append to the commit (STR-1), so
            # nothing else may run in between.
            stored = await _append_all(uow, new_events)
        if stored:
            await self._publish(stored)
        return dataclasses.replace(outcome, events=tuple(stored))

    async def extra_events(
        self, actor: Actor, record: Mapping[str, Any], action: Action
    ) -> Sequence[NewEvent]:
        """Events to store with a change, in its transaction (for COL-7 notifications).

        `record` is the record after the change (for a delete: as it was, with the deleted
        event's version). None by default.
        """
        return ()

    async def extra_events_for(
        self, actor: Actor, request: ChangeRequest, record: Mapping[str, Any], action: Action
    ) -> Sequence[NewEvent]:
        """The hook the service calls; override this one when you need the request (its
        `entity_type`, `via`, `task_id`). By default it defers to `extra_events`."""
        return await self.extra_events(actor, record, action)

    async def purge_expired_keys(self) -> int:
        """Forget idempotency keys older than `idempotencyTtlSeconds` (MUT-2: they no longer
        count); how many. The server calls this now and then so the key table stays bounded."""
        ttl = self.limits.idempotencyTtlSeconds
        return await self.store.purge_idempotency_keys(self.clock.now() - ttl)

    # -- internals ---------------------------------------------------------------------------
    def _expired(self, stored_at: float) -> bool:
        return stored_at + self.limits.idempotencyTtlSeconds < self.clock.now()

    async def _publish(self, events: Sequence[StoredEvent]) -> None:
        if self.publisher is None:
            return
        try:
            await self.publisher.publish(events)
        except Exception:
            # The change is committed and its events durable; clients recover them by `sync`.
            _log.exception("publishing %d stored events failed", len(events))

    async def _apply(
        self, uow: UnitOfWork, actor: Actor, request: ChangeRequest, op: Op
    ) -> _Applied:
        now = iso_from_epoch(self.clock.now())
        if op is Op.CREATE:
            fields = validate_create(request.entity_type, request.changes)
            record = {
                "id": self._new_id(),
                "version": 1,
                "ownerId": actor.user_id,
                "teamId": actor.team_id,
                "brokerId": actor.broker_id,
                **fields,
                "createdAt": now,
                "updatedAt": now,
                "archived": False,
            }
            await uow.insert_record(request.entity_type, record)
            return await self._changed(actor, request, record, Action.CREATED, dict(record), 201)

        assert request.record_id is not None  # _check_request
        if not is_storable_key(request.record_id):
            raise not_found(request.entity_type)
        current = await uow.get_record(request.entity_type, request.record_id)
        if current is None or not can_see(actor, current):
            raise not_found(request.entity_type)
        changes = validate_update(request.entity_type, request.changes) if op is Op.UPDATE else {}
        await self._check_lock(actor, request)
        if request.expected_version is not None and request.expected_version != current["version"]:
            raise DomainError(
                ErrorCode.VERSION_CONFLICT,
                f"the record is at version {current['version']}",
                {"currentVersion": current["version"]},
            )
        if op is Op.DELETE:
            await uow.delete_record(request.entity_type, request.record_id)
            gone = {**current, "version": current["version"] + 1}
            return await self._changed(actor, request, gone, Action.DELETED, {}, 204)
        if op in (Op.ARCHIVE, Op.RESTORE):
            archived = op is Op.ARCHIVE
            if bool(current.get("archived")) == archived:  # already so: 200, no change, no event
                return ChangeOutcome(current["id"], current, 200), []
            changes = {"archived": archived}
        record = dict(current)
        for name, value in changes.items():
            if value is None:  # null clears an optional field (§15)
                record.pop(name, None)
            else:
                record[name] = value
        record.update(version=current["version"] + 1, updatedAt=now)
        await uow.update_record(request.entity_type, record)
        delta = {**changes, "updatedAt": now}
        return await self._changed(actor, request, record, op.action, delta, 200)

    async def _check_lock(self, actor: Actor, request: ChangeRequest) -> None:
        assert request.record_id is not None
        lock = await self.state.get_lock(lock_key(request.entity_type, request.record_id))
        if lock is not None and lock.user_id != actor.user_id:
            raise DomainError(
                ErrorCode.LOCKED,
                f"{lock.name} is editing this record",
                {
                    "userId": lock.user_id,
                    "name": lock.name,
                    "expiresAt": iso_from_epoch(lock.expires_at),
                },
            )

    async def _changed(
        self,
        actor: Actor,
        request: ChangeRequest,
        record: dict[str, Any],
        action: Action,
        changes: dict[str, Any],
        status: int,
    ) -> _Applied:
        payload = {
            "entityType": request.entity_type,
            "entityId": record["id"],
            "action": action.value,
            "version": record["version"],
            "changes": changes,
            "actorId": actor.user_id,
            "teamId": record["teamId"],
            "brokerId": record["brokerId"],
            "via": request.via,
            "taskId": request.task_id,
        }
        event = NewEvent(
            stream=stream_for(record),
            name=data_event_name(request.entity_type, action),
            payload=payload,
            owner_id=record["ownerId"],
            entity_type=request.entity_type,
        )
        extra = await self.extra_events_for(actor, request, record, action)
        kept = None if action is Action.DELETED else record
        return ChangeOutcome(record["id"], kept, status), [event, *extra]


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_request(request: ChangeRequest) -> Op:
    try:
        op = Op(request.op)
    except ValueError:
        raise validation_error(f"op must be one of {', '.join(Op)}", "op") from None
    validate_entity_type(request.entity_type)
    if op is not Op.CREATE and (not isinstance(request.record_id, str) or not request.record_id):
        raise validation_error("id is required", "id")
    if request.expected_version is not None and not _is_int(request.expected_version):
        raise validation_error("expectedVersion must be an integer", "expectedVersion")
    return op


async def _append_all(uow: UnitOfWork, events: Sequence[NewEvent]) -> list[StoredEvent]:
    """Stored in stream-name order — every writer takes stream head locks in one order, so two
    transactions never wait on each other's heads — but returned in the order given."""
    order = sorted(range(len(events)), key=lambda i: events[i].stream)
    stored: dict[int, StoredEvent] = {}
    for i in order:
        stored[i] = await uow.append_event(events[i])
    return [stored[i] for i in range(len(events))]
