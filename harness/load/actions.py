"""The actions a simulated user takes: changes over REST or `mutate`, views, typing, AI
tasks, refetches.

Each action ends in exactly one `ActionRecord`, success or not: a refused or timed-out action
is a finding, never an exception that kills the simulated user. `ActionRunner` is handed what
it needs of the user it acts for (`ActingUser`, which `LoadAgent` is) and of the process
(random source, workload, REST pool); it knows nothing else of either.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from harness.spec import API_PREFIX, COLLECTIONS, ClientEvent, ErrorCode, Op

from .known_records import KnownRecords
from .measure import ExtraOp, LocalError, Transport
from .payloads import create_body, update_body
from .rest import RestCaller, RestUnanswered
from .wire import LeanSocket
from .wire_errors import TokenUnavailable, WireError
from .workload import Workload

__all__ = ["ActingUser", "ActionRunner", "ack_error"]

_REST_ROUTE = {  # op → (method, path suffix after /{collection}/{id})
    Op.UPDATE.value: ("PATCH", ""),
    Op.ARCHIVE.value: ("POST", "/archive"),
    Op.RESTORE.value: ("POST", "/restore"),
    Op.DELETE.value: ("DELETE", ""),
}
_AI_TASKS_PATH = f"{API_PREFIX}/ai/tasks"


def ack_error(ack: Any) -> str:
    """The error code of an ack (§13); "" when it is ok, INTERNAL when it is no ack at all."""
    if isinstance(ack, dict) and ack.get("ok"):
        return ""
    if isinstance(ack, dict) and isinstance(ack.get("error"), dict):
        return str(ack["error"].get("code", ErrorCode.INTERNAL.value))
    return ErrorCode.INTERNAL.value


class ActingUser(Protocol):
    """What `ActionRunner` needs of the user it acts for."""

    @property
    def records(self) -> KnownRecords: ...

    @property
    def socket(self) -> LeanSocket | None:
        """A connected socket of the user's, if it has one."""
        ...

    def token(self) -> str: ...

    def record_action(
        self,
        op: str,
        transport: str,
        entity_type: str,
        entity_id: str,
        version: int,
        scope: str,
        t_send: float,
        ok: int,
        error_code: str,
        bytes_sent: int,
        bytes_received: int = 0,
    ) -> None: ...


@dataclass(frozen=True, slots=True)
class _Attempt:
    """One change as sent; `before` is the (version, scope) the agent knew of it then."""

    op: str
    entity_type: str
    entity_id: str
    changes: dict[str, Any] | None
    visibility: str | None
    before: tuple[int, str] | None


class ActionRunner:
    def __init__(
        self, user: ActingUser, *, rng: random.Random, workload: Workload, rest: RestCaller
    ) -> None:
        self.user = user
        self.rng = rng
        self.workload = workload
        self.rest = rest

    def run(self, op: str) -> None:
        handlers: dict[str, Callable[[], None]] = {
            ExtraOp.VIEW: self._view,
            ExtraOp.TYPING: self._typing,
            ExtraOp.AI_TASK: self._ai_task,
            ExtraOp.REFETCH: self._refetch_any,
        }
        handler = handlers.get(op)
        if handler is not None:
            handler()
        else:
            self.change(op)

    # -- changes -------------------------------------------------------------------------------

    def _target(self, op: str) -> tuple[str, str] | None:
        """A known record this op makes sense for: (entity id, entity type)."""
        want_archived = op == Op.RESTORE.value
        candidates = [
            (eid, rec.entity_type)
            for eid, rec in self.user.records.items()
            if op in (Op.UPDATE.value, Op.DELETE.value) or rec.archived == want_archived
        ]
        if not candidates:
            return None
        return self.rng.choice(candidates)

    def change(self, op: str) -> None:
        rng, workload = self.rng, self.workload
        target = None if op == Op.CREATE.value else self._target(op)
        if target is None:
            op = Op.CREATE.value
            entity_type = rng.choice(workload.entity_types)
            entity_id = ""
        else:
            entity_id, entity_type = target
        sensitive = rng.random() < workload.sensitive_share
        visibility = None
        if op == Op.CREATE.value:
            vis = workload.visibility_mix
            visibility = rng.choices(list(vis), weights=list(vis.values()))[0]
            changes: dict[str, Any] | None = create_body(entity_type, visibility, rng, sensitive)
        elif op == Op.UPDATE.value:
            changes = update_body(entity_type, rng, sensitive)
        else:
            changes = None
        # What the agent knows before the change: the record's own `deleted` event may reach
        # the agent's socket (and drop it from `known`) before the ack does.
        prior = self.user.records.get(entity_id)
        before = (prior.version, prior.scope) if prior is not None else None
        attempt = _Attempt(op, entity_type, entity_id, changes, visibility, before)
        use_socket = rng.random() < workload.socket_share and self.user.socket is not None
        if use_socket:
            self._mutate(attempt)
        else:
            self._rest_change(attempt)

    def _finish(
        self, a: _Attempt, transport: str, data: Any, t_send: float, error: str, sent: int
    ) -> None:
        """One ActionRecord for a change, success or not."""
        user, records = self.user, self.user.records
        entity_type, entity_id = a.entity_type, a.entity_id
        if error:
            scope = a.before[1] if a.before else ""
            user.record_action(
                a.op, transport, entity_type, entity_id, 0, scope, t_send, 0, error, sent
            )
            if error == ErrorCode.NOT_FOUND.value:
                records.pop(entity_id, None)
            return
        if a.op == Op.DELETE.value:
            known = records.pop(entity_id, None)
            latest = max(known.version if known else 0, a.before[0] if a.before else 0)
            # A deleted event's version is the last version + 1 (§15).
            version = latest + 1 if latest else 0
            scope = known.scope if known else (a.before[1] if a.before else "")
        else:
            entity_id, version, scope = records.remember(data, a.visibility, entity_type)
        user.record_action(
            a.op, transport, entity_type, entity_id, version, scope, t_send, 1, "", sent
        )

    def _mutate(self, a: _Attempt) -> None:
        sock = self.user.socket
        payload: dict[str, Any] = {"mutationId": uuid.uuid4().hex, "op": a.op}
        payload["entityType"] = a.entity_type
        if a.entity_id:
            payload["id"] = a.entity_id
        if a.changes is not None:
            payload["changes"] = a.changes
        t_send = time.time()
        data, error, sent = None, "", 0
        try:
            assert sock is not None
            ack, sent = sock.call(ClientEvent.MUTATE, payload, self.workload.ack_timeout_s)
            error = ack_error(ack)
            data = ack.get("data") if isinstance(ack, dict) else None
        except WireError:
            error = LocalError.TIMEOUT
        self._finish(a, Transport.SOCKET, data, t_send, error, sent)

    def _rest_change(self, a: _Attempt) -> None:
        base = f"{API_PREFIX}/{COLLECTIONS[a.entity_type]}"
        if a.op == Op.CREATE.value:
            method, path = "POST", base
        else:
            method, suffix = _REST_ROUTE[a.op]
            path = f"{base}/{a.entity_id}{suffix}"
        t_send = time.time()
        data, error, sent = None, "", 0
        try:
            result = self.rest.call(method, path, self.user.token(), a.changes)
            sent = result.bytes_sent
            error = result.error_code
            if isinstance(result.body, dict):
                data = result.body.get("data")
        except TokenUnavailable:
            error = LocalError.NO_TOKEN
        except RestUnanswered as exc:
            error = exc.reason
        self._finish(a, Transport.REST, data, t_send, error, sent)

    # -- other actions -------------------------------------------------------------------------

    def _socket_action(self, op: str, event: str, payload: dict[str, Any], entity_id: str) -> None:
        sock = self.user.socket
        if sock is None:
            return
        known = self.user.records.get(entity_id)
        t_send = time.time()
        error, sent = "", 0
        try:
            ack, sent = sock.call(event, payload, self.workload.ack_timeout_s)
            error = ack_error(ack)
        except WireError:
            error = LocalError.TIMEOUT
        self.user.record_action(
            op,
            Transport.SOCKET,
            str(payload.get("entityType", "")),
            entity_id,
            known.version if known else 0,
            known.scope if known else "",
            t_send,
            0 if error else 1,
            error,
            sent,
        )

    def _pick_known(self) -> tuple[str, str] | None:
        if not self.user.records:
            return None
        entity_id = self.rng.choice(list(self.user.records))
        return entity_id, self.user.records[entity_id].entity_type

    def _view(self) -> None:
        picked = self._pick_known()
        if picked is None:
            return self.change(Op.CREATE.value)
        entity_id, entity_type = picked
        body = {"entityType": entity_type, "entityId": entity_id}
        self._socket_action(ExtraOp.VIEW, ClientEvent.RECORD_VIEW, body, entity_id)

    def _typing(self) -> None:
        picked = self._pick_known()
        if picked is None:
            return self.change(Op.CREATE.value)
        entity_id, entity_type = picked
        body = {"entityType": entity_type, "entityId": entity_id, "state": "start"}
        self._socket_action(ExtraOp.TYPING, ClientEvent.TYPING, body, entity_id)

    def _ai_task(self) -> None:
        rng = self.rng
        body = {
            "type": "create_escrow",
            "params": {
                "address": f"{rng.randrange(1, 9999)} AI Way",
                "purchasePrice": rng.randrange(100_000, 900_000),
                "stepDelayMs": 300,
            },
        }
        t_send = time.time()
        error, sent, task_id = "", 0, ""
        try:
            result = self.rest.call("POST", _AI_TASKS_PATH, self.user.token(), body)
            sent, error = result.bytes_sent, result.error_code
            if isinstance(result.body, dict) and isinstance(result.body.get("data"), dict):
                task_id = str(result.body["data"].get("taskId", ""))
        except TokenUnavailable:
            error = LocalError.NO_TOKEN
        except RestUnanswered as exc:
            error = exc.reason
        self.user.record_action(
            ExtraOp.AI_TASK,
            Transport.REST,
            "escrow",
            task_id,
            0,
            "user",
            t_send,
            0 if error else 1,
            error,
            sent,
        )

    def refetch(self, entity_type: str, entity_id: str, version: int, scope: str) -> None:
        """What a CRM without incremental updates does on every event: fetch the whole list."""
        limit = self.workload.refetch_limit
        path = f"{API_PREFIX}/{COLLECTIONS.get(entity_type, 'escrows')}?limit={limit}"
        t_send = time.time()
        error, sent, received = "", 0, 0
        try:
            result = self.rest.call("GET", path, self.user.token())
            sent, received, error = result.bytes_sent, result.bytes_received, result.error_code
        except TokenUnavailable:
            error = LocalError.NO_TOKEN
        except RestUnanswered as exc:
            error = exc.reason
        self.user.record_action(
            ExtraOp.REFETCH,
            Transport.REST,
            entity_type,
            entity_id,
            version,
            scope,
            t_send,
            0 if error else 1,
            error,
            sent,
            received,
        )

    def _refetch_any(self) -> None:
        entity_type = self.rng.choice(self.workload.entity_types)
        self.refetch(entity_type, "", 0, "")
