"""§6 Redaction of sensitive fields per recipient (RED-1..RED-4)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

import pytest

from harness.client import RealtimeClient
from harness.spec import ENTITY_TYPES, REDACTED, ClientEvent, Profile, ServerEvent

from ..check_api import Crm
from ..failures import expect, expect_equal

pytestmark = pytest.mark.asyncio

# Values no other field of a test record can contain, so a leak is unambiguous.
_SECRET_VALUES = {"myCommission": 73519.37, "grossCommission": 147038.74}


def _sensitive_view(record: Mapping[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    return {f: record[f] for f in fields if f in record}


async def _created_event(crm: Crm, client: RealtimeClient, rid: str) -> dict[str, Any]:
    event = await crm.wait_data_event(client, "escrow", "created", rid)
    expect(event is not None, "escrow:created not received")
    return dict(event or {})


@pytest.mark.req("RED-1", "RED-2", "RED-3")
async def test_live_events_redacted_per_recipient(crm: Crm) -> None:
    """RED-1/RED-2/RED-3: one team broadcast: owner's sockets get true values, a teammate's
    get "[REDACTED]", same eventId/stream/seq; absent sensitive fields stay absent."""
    owner, mate = crm.org.team_of(2)
    fields = crm.sensitive("escrow")
    owner_socket = await crm.client(owner, node=1)
    mate_socket = await crm.client(mate, node=1)
    rest = crm.rest(owner)
    record = await crm.create(rest, "escrow", **_SECRET_VALUES)
    partial = await crm.create(rest, "escrow", myCommission=None, grossCommission=1.5)
    mine, theirs = await asyncio.gather(
        _created_event(crm, owner_socket, record["id"]),
        _created_event(crm, mate_socket, record["id"]),
    )
    expect_equal(
        _sensitive_view(mine["changes"], fields), _SECRET_VALUES, "owner's event values",
        requirement="RED-2",
    )  # fmt: skip
    expect_equal(
        _sensitive_view(theirs["changes"], fields), {f: REDACTED for f in fields},
        "teammate's event values", requirement="RED-1",
    )  # fmt: skip
    identity = ("eventId", "stream", "seq")
    expect_equal(
        [theirs.get(k) for k in identity], [mine.get(k) for k in identity],
        "eventId/stream/seq of the two copies", requirement="RED-3",
    )  # fmt: skip
    partial_event = await _created_event(crm, mate_socket, partial["id"])
    view = _sensitive_view(partial_event["changes"], fields)
    expect(
        view.get("grossCommission") == REDACTED and view.get("myCommission") in (None,),
        "absent or null sensitive fields must not be invented",
        expected={"grossCommission": REDACTED, "myCommission": "absent or null"},
        observed=view, requirement="RED-1",
    )  # fmt: skip
    crm.exercised("RED-1", "live", "rest:change")
    update = await crm.rest(mate).update("escrow", record["id"], {"status": "pending"})
    expect_equal(update.status, 200, "teammate updates the record")
    for field in fields:
        expect(field not in update.record or update.record[field] == REDACTED,
               "teammate's PATCH response leaks a sensitive value",
               expected={field: f"absent or {REDACTED}"}, observed=update.record,
               requirement="RED-1")  # fmt: skip


@pytest.mark.req("RED-1", "RED-2")
async def test_rest_and_replay_redacted(crm: Crm) -> None:
    """RED-1/RED-2 on every path: REST get and list, and replayed events — redacted for the
    teammate, true for the owner."""
    owner, mate = crm.org.team_of(2)
    fields = crm.sensitive("escrow")
    owner_socket = await crm.client(owner, node=0)
    mate_socket = await crm.client(mate, node=1)
    cursors = {"owner": owner_socket.tracker.cursors(), "mate": mate_socket.tracker.cursors()}
    record = await crm.create(crm.rest(owner), "escrow", **_SECRET_VALUES)
    rid = record["id"]
    hidden = {f: REDACTED for f in fields}
    crm.exercised("RED-1", "rest:get", "rest:list", "replay")
    for who, rest, want in (("owner", crm.rest(owner), _SECRET_VALUES),
                            ("mate", crm.rest(mate, node=1), hidden)):  # fmt: skip
        got = await rest.get("escrow", rid)
        listed = await rest.list("escrow")
        row: dict[str, Any] = next((r for r in listed.data or [] if r.get("id") == rid), {})
        requirement = "RED-2" if who == "owner" else "RED-1"
        expect_equal(_sensitive_view(got.record, fields), want, f"GET by {who}",
                     requirement=requirement)  # fmt: skip
        expect_equal(_sensitive_view(row, fields), want, f"list row for {who}",
                     requirement=requirement)  # fmt: skip
    for who, client, want in (("owner", owner_socket, _SECRET_VALUES),
                              ("mate", mate_socket, hidden)):  # fmt: skip
        await _created_event(crm, client, rid)
        start = client.mark()
        ack = await client.sync(cursors[who])
        expect(ack.ok, "sync refused", observed=ack.raw)
        replayed = client.received(lambda e: e.get("entityId") == rid, since=start)
        expect(replayed, f"nothing replayed to {who}")
        requirement = "RED-2" if who == "owner" else "RED-1"
        expect_equal(_sensitive_view(replayed[0].payload["changes"], fields), want,
                     f"replayed event for {who}", requirement=requirement)  # fmt: skip


@pytest.mark.req("RED-4")
async def test_errors_and_notifications_carry_no_secret(crm: Crm) -> None:
    """RED-4: refusals about a record with sensitive values never quote them; with `collab`,
    notifications to the owner do not either."""
    owner, mate = crm.org.team_of(2)
    owner_socket = await crm.client(owner, node=0)
    mate_socket = await crm.client(mate, node=1)
    record = await crm.create(crm.rest(owner), "escrow", **_SECRET_VALUES)
    rid = record["id"]
    mate_rest = crm.rest(mate, node=1)
    answers: list[Any] = []
    answers.append((await mate_rest.update("escrow", rid, {"status": "x"}, if_match=1)).body)
    answers.append((await mate_rest.update("escrow", rid, {"notes": "n"}, if_match=9)).body)
    answers.append((await mate_rest.update("escrow", rid, {"myCommission": -1})).body)
    ack = await mate_socket.request(ClientEvent.MUTATE, {
        "mutationId": f"{crm.org.run_id}-red4", "op": "update", "entityType": "escrow",
        "id": rid, "changes": {"grossCommission": "lots"}, "expectedVersion": 99})  # fmt: skip
    answers.append(ack.raw)
    if crm.target.declares(Profile.COLLAB):
        await mate_rest.update("escrow", rid, {"status": "pending"})
        note = await owner_socket.wait_for(ServerEvent.NOTIFICATION, 3.0)
        answers.append(note.payload if note else None)
    text = json.dumps(answers)
    leaked = [f for f, v in _SECRET_VALUES.items() if str(v) in text]
    expect(not leaked, "a sensitive value appears in an error or notification",
           observed={"fields": leaked, "answers": answers})  # fmt: skip
    expect(all(a is not None for a in answers), "a refusal got no answer", observed=answers)


@pytest.mark.req("RED-1", "RED-2")
async def test_every_sensitive_type_redacted(crm: Crm) -> None:
    """RED-1/RED-2 for every type with sensitive fields in the info document: the teammate's
    created event and GET carry "[REDACTED]", the owner's the true values."""
    owner, mate = crm.org.team_of(2)
    owner_socket = await crm.client(owner, node=0)
    mate_socket = await crm.client(mate, node=1)
    owner_rest, mate_rest = crm.rest(owner), crm.rest(mate, node=1)
    types = [t for t in ENTITY_TYPES if crm.sensitive(t)]
    expect(types, "the info document names no sensitive field", observed=crm.target.info)
    for entity_type in types:
        record = await crm.create(owner_rest, entity_type)
        fields = crm.sensitive(entity_type)
        truth = _sensitive_view(record, fields)
        hidden = {f: REDACTED for f in truth}
        for who, client, want in (("owner", owner_socket, truth), ("mate", mate_socket, hidden)):
            event = await crm.wait_data_event(client, entity_type, "created", record["id"])
            expect(event is not None, f"{entity_type}:created not received by {who}")
            requirement = "RED-2" if who == "owner" else "RED-1"
            view = _sensitive_view((event or {}).get("changes", {}), fields)
            expect_equal(view, want, f"{entity_type} event for {who}", requirement=requirement)
        got = await mate_rest.get(entity_type, record["id"])
        expect_equal(_sensitive_view(got.record, fields), hidden, f"{entity_type} GET by mate",
                     requirement="RED-1")  # fmt: skip
