"""ActionRunner through its narrow interfaces: a user (`ActingUser`) and a REST caller handed
to it, no Locust, no server. Each action ends in exactly one action record."""

from __future__ import annotations

import random
import socket
import struct
from dataclasses import dataclass, field
from typing import Any

from gevent.server import StreamServer

from harness.load.actions import ActionRunner, ack_error
from harness.load.known_records import KnownRecord, KnownRecords
from harness.load.measure import ExtraOp, LocalError
from harness.load.rest import RestPool, RestResult
from harness.load.wire import LeanSocket
from harness.load.workload import Workload
from harness.spec import ErrorCode


@dataclass
class FakeUser:
    records: KnownRecords = field(default_factory=lambda: KnownRecords({}))
    actions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def socket(self) -> LeanSocket | None:
        return None  # every change goes over REST

    def token(self) -> str:
        return "token"

    def record_action(self, op: str, transport: str, entity_type: str, entity_id: str,
                      version: int, scope: str, t_send: float, ok: int, error_code: str,
                      bytes_sent: int, bytes_received: int = 0) -> None:  # fmt: skip
        self.actions.append({"op": op, "transport": transport, "entity_id": entity_id,
                             "version": version, "scope": scope, "ok": ok,
                             "error_code": error_code})  # fmt: skip


@dataclass
class FakeRest:
    answers: list[RestResult]
    calls: list[tuple[str, str]] = field(default_factory=list)

    def call(self, method: str, path: str, token: str, body: Any = None,
             headers: dict[str, str] | None = None) -> RestResult:  # fmt: skip
        self.calls.append((method, path))
        return self.answers.pop(0)


def _runner(user: FakeUser, rest: FakeRest) -> ActionRunner:
    workload = Workload(entity_types=("lead",), visibility_mix={"broker": 1.0})
    return ActionRunner(user, rng=random.Random(1), workload=workload, rest=rest)


def test_a_created_record_is_known_and_recorded_once() -> None:
    """A create over REST: one ok action with the answer's id, version and the scope of its
    visibility; the user knows the record (and the process its owner) afterwards."""
    user = FakeUser()
    created = {"id": "e1", "version": 1, "visibility": "broker", "ownerId": "u1"}
    rest = FakeRest([RestResult(201, {"data": created}, 120, 300)])
    _runner(user, rest).change("create")
    assert rest.calls == [("POST", "/api/v1/leads")]
    assert user.actions == [
        {"op": "create", "transport": "rest", "entity_id": "e1", "version": 1,
         "scope": "broker", "ok": 1, "error_code": ""}
    ]  # fmt: skip
    assert user.records["e1"] == KnownRecord("lead", 1, "broker")
    assert user.records.owners == {"e1": "u1"}


def test_a_refused_change_is_recorded_and_a_gone_record_forgotten() -> None:
    """NOT_FOUND for an update: one failed action, and the user stops targeting the record."""
    user = FakeUser()
    user.records["e1"] = KnownRecord("lead", 3, "team")
    refused = {"error": {"code": ErrorCode.NOT_FOUND.value, "message": "gone"}}
    rest = FakeRest([RestResult(404, refused, 80, 60)])
    _runner(user, rest).change("update")
    assert rest.calls == [("PATCH", "/api/v1/leads/e1")]
    assert [(a["op"], a["ok"], a["error_code"]) for a in user.actions] == [
        ("update", 0, ErrorCode.NOT_FOUND.value)
    ]
    assert "e1" not in user.records


def test_ack_error() -> None:
    assert ack_error({"ok": True}) == ""
    assert ack_error({"ok": False, "error": {"code": "LOCKED"}}) == "LOCKED"
    assert ack_error(None) == ErrorCode.INTERNAL.value


def _resetting_server() -> StreamServer:
    """A server that reads a request and resets the connection (SO_LINGER 0): what a client
    sees when the server closes a keep-alive connection as a request is sent on it."""

    def handle(sock: socket.socket, _address: Any) -> None:
        sock.recv(65536)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()

    server = StreamServer(("127.0.0.1", 0), handle)
    server.start()
    return server


def test_a_reset_rest_connection_is_an_action_error_not_a_traceback() -> None:
    """A change, an AI task and a refetch over a connection the server resets: each is one
    failed action with CONNECTION_LOST (geventhttpclient's `HTTPConnectionClosed` is no
    OSError, and escaped the actions as a Locust task traceback)."""
    server = _resetting_server()
    pool = RestPool(f"http://127.0.0.1:{server.server_port}", concurrency=2, timeout=5.0)
    try:
        user = FakeUser()
        runner = ActionRunner(user, rng=random.Random(1), rest=pool,
                              workload=Workload(entity_types=("lead",)))  # fmt: skip
        runner.change("create")
        runner.run(ExtraOp.AI_TASK)
        runner.refetch("lead", "", 0, "")
    finally:
        pool.close()
        server.stop()
    assert [(a["op"], a["ok"], a["error_code"]) for a in user.actions] == [
        ("create", 0, LocalError.CONNECTION_LOST),
        (ExtraOp.AI_TASK, 0, LocalError.CONNECTION_LOST),
        (ExtraOp.REFETCH, 0, LocalError.CONNECTION_LOST),
    ]
