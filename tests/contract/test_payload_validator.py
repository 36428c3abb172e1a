"""PayloadValidator: a payload that breaks its schema names the requirement defining it and the
JSON path of the offending field; a valid one costs nothing to check."""

from __future__ import annotations

from typing import Any

from harness.contract import PayloadValidator

_TS = "2026-12-07T17:04:03.630Z"
_RECORD = {"id": "e-1", "version": 1, "ownerId": "u-1", "teamId": "t-1", "brokerId": "b-1",
           "address": "1 A St", "grossCommission": 3, "visibility": "team", "createdAt": _TS,
           "updatedAt": _TS, "archived": False}  # fmt: skip


def _event(**changes: Any) -> dict[str, Any]:
    event = {"eventId": "ev-1", "stream": "team:t-1", "seq": 2, "entityType": "escrow",
             "entityId": "e-1", "action": "updated", "version": 2,
             "changes": {"status": None, "updatedAt": _TS}, "actorId": "u-2", "teamId": "t-1",
             "brokerId": "b-1", "via": "socket", "taskId": None, "timestamp": _TS}  # fmt: skip
    event.update(changes)
    return event


def test_valid_payloads_pass() -> None:
    validator = PayloadValidator()
    created = _event(action="created", version=1, changes={**_RECORD, "myCommission": "[REDACTED]"})
    assert validator.event("escrow:created", created) == []
    assert validator.event("escrow:updated", _event()) == []
    assert (
        validator.ack("sync", {"ok": True, "streams": {"team:t": {"head": 3, "reset": True}}}) == []
    )
    assert validator.ack("mutate", {"ok": True, "data": {"id": "e-1"}, "duplicate": False}) == []
    refusal = {"ok": False, "error": {"code": "NOT_FOUND", "message": "x"}}
    assert validator.ack("record:view", refusal) == []
    assert validator.response("GET", "/api/v1/escrows/e-1", 200, {"data": _RECORD}) == []
    assert validator.response("DELETE", "/api/v1/escrows/e-1", 204, None) == []
    assert validator.event("some:extension", 42) == []  # not the spec's: not judged


def test_each_violation_names_its_requirement_and_path() -> None:
    validator = PayloadValidator()
    [seq] = validator.event("escrow:updated", _event(seq="2"))
    assert (seq.requirement, seq.path) == ("STR-1", "$.seq")
    [via] = validator.event("escrow:updated", _event(via="rest"))
    assert (via.requirement, via.path) == ("EVT-4", "$.via")
    missing = _event()
    del missing["version"]
    [version] = validator.event("escrow:updated", missing)
    assert (version.requirement, version.path) == ("EVT-3", "$.version")
    [stamp] = validator.event("escrow:updated", _event(timestamp="2026-12-07T17:04:03Z"))
    assert (stamp.requirement, stamp.path) == ("TRN-4", "$.timestamp")
    record = {**_RECORD, "archived": "no"}
    [archived] = validator.event("escrow:created", _event(action="created", changes=record))
    assert (archived.requirement, archived.path) == ("EVT-3", "$.changes.archived")
    [typing] = validator.event(
        "user:typing",
        {"entityType": "escrow", "entityId": "e", "userId": "u", "name": "n", "state": "start"},
    )
    assert (typing.requirement, typing.path) == ("TRN-4", "$.timestamp")
    [ack] = validator.ack("presence:list", {"ok": True, "online": [{"userId": "u", "name": "n"}]})
    assert (ack.requirement, ack.path) == ("COL-2", "$.online[0].connections")
    [error] = validator.ack("sync", {"ok": False, "error": {"code": "OOPS", "message": "m"}})
    assert (error.requirement, error.path) == ("TRN-5", "$.error.code")
    [page] = validator.response("GET", "/api/v1/leads", 200, {"data": []})
    assert (page.requirement, page.path) == ("REC-3", "$.total")
    [body] = validator.response("PATCH", "/api/v1/leads/x", 409, {"code": "VERSION_CONFLICT"})
    assert (body.requirement, body.path) == ("REC-7", "$.error")
    [status] = validator.response("DELETE", "/api/v1/leads/x", 200, {})
    assert status.requirement == "REC-6" and "204" in status.message


def test_sensitive_fields_follow_the_info_document() -> None:
    """A server may advertise other sensitive fields (INF-1): "[REDACTED]" is then valid there."""
    redacted_price = {**_RECORD, "purchasePrice": "[REDACTED]"}
    envelope = {"data": redacted_price}
    assert PayloadValidator().response("GET", "/api/v1/escrows/e", 200, envelope)
    custom = PayloadValidator({"escrow": ["purchasePrice"], "listing": []})
    assert custom.response("GET", "/api/v1/escrows/e", 200, envelope) == []
