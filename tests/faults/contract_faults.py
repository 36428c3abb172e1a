"""Faults on the side paths (issue 17): what real servers get wrong where the main checks do
not look — one field missing or mistyped in one kind of payload, a periodic gap, an audience
wrong for one action only, an identity claim not compared on refresh, a key space shared
across users, a refused request that wrote its valid part. Each is shown to turn its id to
`fail` by tests/faults/test_contract_faults.py.

Installed by `fault_server.py` beside the per-area modules; kept apart from their `FAULTS` so
that the per-area fault tests (which derive their ids from those names) do not run them.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Mapping
from typing import Any

import jwt
from fault_switch import Method, broken, patch

from harness.spec import ErrorCode, Op, ServerEvent
from reference_server.collab.presence import PresenceService
from reference_server.collab.shared import CollabContext
from reference_server.domain.contracts import DomainError
from reference_server.domain.records import RecordService
from reference_server.realtime.fanout import RedactingManager, SocketPublisher
from reference_server.realtime.gateway import RealtimeGateway
from reference_server.rest import records as rest_records
from reference_server.store._sql_uow import SqlUnitOfWork

__all__ = ["FAULTS", "install"]

FAULTS: dict[str, str] = {
    "EVT-3/missing-field": "lead:created events carry the record without its createdAt",
    "AI-3/missing-field": "ai:task:completed lacks its message",
    "COL-2/wrong-type": "presence:list gives each user's connections as a string",
    "STR-1/now-and-then": "every stream skips one seq in eight (8, 17, 26, ...)",
    "EVT-1/one-action": "`archived` events of team records also reach the brokerage",
    "COL-1/broker-scope": "presence is announced to the whole brokerage, not the team",
    "REC-7/partial-write": "a refused create or update first writes its valid fields",
    "MUT-2/shared-keys": "idempotency keys are one space for all users, not per user",
    "AUTH-4/broker-claim": "auth:refresh accepts a token of another brokerage (same sub, team)",
    "LIM-5/internal": "a mutate whose field has the wrong JSON type crashes: INTERNAL",
    "REC-7/server-error": "a list query whose limit is out of range answers 500, not 400",
}
# Kinds whose values are JSON arrays/objects: anything else of that shape is a wrong type.
_STRUCTURED = {"tags", "customFields"}
_PERIOD = 8  # STR-1/now-and-then


def _drop(payload: Any, key: str) -> Any:
    if isinstance(payload, Mapping):
        return {k: v for k, v in payload.items() if k != key}
    return payload


def _payload_faults() -> None:
    def encoding(orig: Any) -> Any:
        def patched(self: RedactingManager, event: str, args: list[Any], namespace: str) -> Any:
            if args and broken("EVT-3/missing-field") and event == "lead:created":
                changes = _drop(args[0].get("changes"), "createdAt")
                args = [{**args[0], "changes": changes}, *args[1:]]
            if args and broken("AI-3/missing-field") and event == ServerEvent.AI_TASK_COMPLETED:
                args = [_drop(args[0], "message"), *args[1:]]
            return orig(self, event, args, namespace)

        return patched

    def listing(orig: Any) -> Any:
        async def patched(self: PresenceService, session: Any, payload: Any) -> Any:
            ack = await orig(self, session, payload)
            if broken("COL-2/wrong-type") and isinstance(ack, dict) and ack.get("ok"):
                online = [{**e, "connections": str(e["connections"])} for e in ack["online"]]
                return {**ack, "online": online}
            return ack

        return patched

    patch(RedactingManager, "_encode", encoding)
    patch(PresenceService, "list", listing)


def _stream_and_audience_faults() -> None:
    def stamping(orig: Any) -> Any:
        def patched(self: SqlUnitOfWork, event: Any, seq: int) -> Any:
            skip = broken("STR-1/now-and-then") and seq % _PERIOD == 0
            return orig(self, event, seq + 1 if skip else seq)

        return patched

    def publishing(orig: Method) -> Method:
        async def patched(self: SocketPublisher, events: Any) -> None:
            await orig(self, events)
            for event in events:
                if (broken("EVT-1/one-action") and event.stream.startswith("team:")
                        and event.payload.get("action") == "archived"):  # fmt: skip
                    room = f"broker:{event.payload.get('brokerId')}"
                    await self._sio.emit(event.name, self.payload_for_room(event), room=room,
                                         skip_sid=None)  # fmt: skip

        return patched

    def emitting(orig: Method) -> Method:
        async def patched(self: CollabContext, event: str, payload: Any, room: str,
                          **kwargs: Any) -> None:  # fmt: skip
            presence = event in (ServerEvent.PRESENCE_ONLINE, ServerEvent.PRESENCE_OFFLINE)
            if broken("COL-1/broker-scope") and presence and room.startswith("team:"):
                broker = getattr(_ACTORS.get(payload.get("userId")), "broker_id", None)
                if broker is not None:
                    room = f"broker:{broker}"
            await orig(self, event, payload, room, **kwargs)

        return patched

    def announcing(orig: Method) -> Method:
        async def patched(self: PresenceService, event: str, actor: Any) -> None:
            _ACTORS[actor.user_id] = actor
            await orig(self, event, actor)

        return patched

    patch(SqlUnitOfWork, "stamp", stamping)
    patch(SocketPublisher, "publish", publishing)
    patch(CollabContext, "emit", emitting)
    patch(PresenceService, "_announce", announcing)


_ACTORS: dict[str, Any] = {}  # user id -> actor, for COL-1/broker-scope


def _change_faults() -> None:
    def changing(orig: Method) -> Method:
        async def patched(self: RecordService, actor: Any, request: Any) -> Any:
            try:
                return await orig(self, actor, request)
            except DomainError as exc:
                field = (exc.details or {}).get("field")
                changes = request.changes
                partial = (
                    broken("REC-7/partial-write")
                    and exc.code is ErrorCode.VALIDATION_ERROR
                    and request.op in (Op.CREATE, Op.UPDATE)
                    and isinstance(changes, Mapping)
                    and field in changes
                )
                rest = {k: v for k, v in changes.items() if k != field} if partial else {}
                if rest:
                    kept = dataclasses.replace(request, changes=rest, idempotency_key=None)
                    with contextlib.suppress(DomainError):
                        await orig(self, actor, kept)
                raise

        return patched

    def shared(orig: Method) -> Method:
        async def patched(self: SqlUnitOfWork, user_id: str, key: str, *rest: Any) -> Any:
            return await orig(self, "*" if broken("MUT-2/shared-keys") else user_id, key, *rest)

        return patched

    def crashing(orig: Method) -> Method:
        async def patched(self: RecordService, actor: Any, request: Any) -> Any:
            changes = request.changes if isinstance(request.changes, Mapping) else {}
            mistyped = [k for k, v in changes.items()
                        if k not in _STRUCTURED and isinstance(v, list | dict | bool)]  # fmt: skip
            if mistyped and broken("LIM-5/internal") and request.via == "socket":
                raise RuntimeError(f"cannot store {mistyped[0]}")  # the gateway answers INTERNAL
            return await orig(self, actor, request)

        return patched

    def refreshing(orig: Method) -> Method:
        async def patched(self: RealtimeGateway, session: Any, payload: Any) -> Any:
            token = payload.get("token") if isinstance(payload, Mapping) else None
            if broken("AUTH-4/broker-claim") and isinstance(token, str):
                try:
                    claims = jwt.decode(token, options={"verify_signature": False})
                except jwt.PyJWTError:
                    claims = {}
                old = session.actor
                same = (claims.get("sub"), claims.get("teamId")) == (old.user_id, old.team_id)
                broker = claims.get("brokerId")
                if same and isinstance(broker, str) and broker:
                    session.actor = dataclasses.replace(old, broker_id=broker)
            return await orig(self, session, payload)

        return patched

    original_int_param = rest_records._int_param

    def int_param(request: Any, name: str, default: int, low: int, high: int | None) -> int:
        try:
            return original_int_param(request, name, default, low, high)
        except DomainError:
            if broken("REC-7/server-error") and name == "limit":
                raise DomainError(ErrorCode.INTERNAL, "internal error") from None
            raise

    rest_records._int_param = int_param
    patch(RecordService, "change", changing)
    patch(RecordService, "change", crashing)
    patch(SqlUnitOfWork, "claim_idempotency_key", shared)
    patch(SqlUnitOfWork, "remember_idempotency_key", shared)
    patch(RealtimeGateway, "_on_auth_refresh", refreshing)


def install() -> None:
    _payload_faults()
    _stream_and_audience_faults()
    _change_faults()
