"""The actions an agent takes: changes over REST or `mutate`, views, typing, AI tasks, refetches.

Each action ends in exactly one `ActionRecord`, success or not: a refused or timed-out action
is a finding, never an exception that kills the simulated user.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import gevent

from harness.spec import API_PREFIX, COLLECTIONS, ClientEvent, ErrorCode, Op

from .measure import ExtraOp, LocalError, Transport
from .payloads import create_body, update_body
from .wire import WireError

if TYPE_CHECKING:
    from .agent import LoadAgent

__all__ = ["ChangeRunner"]

_REST_ROUTE = {  # op → (method, path suffix after /{collection}/{id})
    Op.UPDATE.value: ("PATCH", ""),
    Op.ARCHIVE.value: ("POST", "/archive"),
    Op.RESTORE.value: ("POST", "/restore"),
    Op.DELETE.value: ("DELETE", ""),
}
_AI_TASKS_PATH = f"{API_PREFIX}/ai/tasks"


@dataclass(frozen=True, slots=True)
class _Attempt:
    """One change as sent; `before` is the (version, scope) the agent knew of it then."""

    op: str
    entity_type: str
    entity_id: str
    changes: dict[str, Any] | None
    visibility: str | None
    before: tuple[int, str] | None


class ChangeRunner:
    def __init__(self, agent: LoadAgent) -> None:
        self.agent = agent

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
            for eid, rec in self.agent.known.items()
            if op in (Op.UPDATE.value, Op.DELETE.value) or rec.archived == want_archived
        ]
        if not candidates:
            return None
        return self.agent.ctx.rng.choice(candidates)

    def change(self, op: str) -> None:
        ctx = self.agent.ctx
        rng = ctx.rng
        target = None if op == Op.CREATE.value else self._target(op)
        if target is None:
            op = Op.CREATE.value
            entity_type = rng.choice(ctx.workload.entity_types)
            entity_id = ""
        else:
            entity_id, entity_type = target
        sensitive = rng.random() < ctx.workload.sensitive_share
        visibility = None
        if op == Op.CREATE.value:
            vis = ctx.workload.visibility_mix
            visibility = rng.choices(list(vis), weights=list(vis.values()))[0]
            changes: dict[str, Any] | None = create_body(entity_type, visibility, rng, sensitive)
        elif op == Op.UPDATE.value:
            changes = update_body(entity_type, rng, sensitive)
        else:
            changes = None
        # What the agent knows before the change: the record's own `deleted` event may reach
        # the agent's socket (and drop it from `known`) before the ack does.
        prior = self.agent.known.get(entity_id)
        before = (prior.version, prior.scope) if prior is not None else None
        attempt = _Attempt(op, entity_type, entity_id, changes, visibility, before)
        use_socket = rng.random() < ctx.workload.socket_share and self.agent.socket is not None
        if use_socket:
            self._mutate(attempt)
        else:
            self._rest_change(attempt)

    def _finish(
        self, a: _Attempt, transport: str, data: Any, t_send: float, error: str, sent: int
    ) -> None:
        """One ActionRecord for a change, success or not."""
        agent = self.agent
        entity_type, entity_id = a.entity_type, a.entity_id
        if error:
            scope = a.before[1] if a.before else ""
            agent.record_action(
                a.op, transport, entity_type, entity_id, 0, scope, t_send, 0, error, sent
            )
            if error == ErrorCode.NOT_FOUND.value:
                agent.known.pop(entity_id, None)
            return
        if a.op == Op.DELETE.value:
            known = agent.known.pop(entity_id, None)
            latest = max(known.version if known else 0, a.before[0] if a.before else 0)
            # A deleted event's version is the last version + 1 (§15).
            version = latest + 1 if latest else 0
            scope = known.scope if known else (a.before[1] if a.before else "")
        else:
            entity_id, version, scope = agent.remember(data, a.visibility)
            if entity_type and entity_id in agent.known:
                agent.known[entity_id].entity_type = entity_type
        agent.record_action(
            a.op, transport, entity_type, entity_id, version, scope, t_send, 1, "", sent
        )

    def _mutate(self, a: _Attempt) -> None:
        sock = self.agent.socket
        payload: dict[str, Any] = {"mutationId": self.agent.new_key(), "op": a.op}
        payload["entityType"] = a.entity_type
        if a.entity_id:
            payload["id"] = a.entity_id
        if a.changes is not None:
            payload["changes"] = a.changes
        t_send = time.time()
        data, error, sent = None, "", 0
        try:
            assert sock is not None
            ack, sent = sock.call(
                ClientEvent.MUTATE, payload, self.agent.ctx.workload.ack_timeout_s
            )
            error = self.agent.ack_error(ack)
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
            result = self.agent.ctx.rest.call(method, path, self.agent.token(), a.changes)
            sent = result.bytes_sent
            error = result.error_code
            if isinstance(result.body, dict):
                data = result.body.get("data")
        except (OSError, gevent.Timeout):
            error = LocalError.TIMEOUT
        self._finish(a, Transport.REST, data, t_send, error, sent)

    # -- other actions -------------------------------------------------------------------------

    def _socket_action(self, op: str, event: str, payload: dict[str, Any], entity_id: str) -> None:
        sock = self.agent.socket
        if sock is None:
            return
        known = self.agent.known.get(entity_id)
        t_send = time.time()
        error, sent = "", 0
        try:
            ack, sent = sock.call(event, payload, self.agent.ctx.workload.ack_timeout_s)
            error = self.agent.ack_error(ack)
        except WireError:
            error = LocalError.TIMEOUT
        self.agent.record_action(
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
        if not self.agent.known:
            return None
        entity_id = self.agent.ctx.rng.choice(list(self.agent.known))
        return entity_id, self.agent.known[entity_id].entity_type

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
        rng = self.agent.ctx.rng
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
            result = self.agent.ctx.rest.call("POST", _AI_TASKS_PATH, self.agent.token(), body)
            sent, error = result.bytes_sent, result.error_code
            if isinstance(result.body, dict) and isinstance(result.body.get("data"), dict):
                task_id = str(result.body["data"].get("taskId", ""))
        except (OSError, gevent.Timeout):
            error = LocalError.TIMEOUT
        self.agent.record_action(
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
        limit = self.agent.ctx.workload.refetch_limit
        path = f"{API_PREFIX}/{COLLECTIONS.get(entity_type, 'escrows')}?limit={limit}"
        t_send = time.time()
        error, sent, received = "", 0, 0
        try:
            result = self.agent.ctx.rest.call("GET", path, self.agent.token())
            sent, received, error = result.bytes_sent, result.bytes_received, result.error_code
        except (OSError, gevent.Timeout):
            error = LocalError.TIMEOUT
        self.agent.record_action(
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
        entity_type = self.agent.ctx.rng.choice(self.agent.ctx.workload.entity_types)
        self.refetch(entity_type, "", 0, "")
