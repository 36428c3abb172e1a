"""§4 Records and the REST API (REC-1..REC-7)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from harness.spec import ENTITY_TYPES, ErrorCode

from ..check_api import Crm, is_wire_timestamp, sample_record
from ..failures import expect, expect_equal

pytestmark = pytest.mark.asyncio


@pytest.mark.req("REC-1")
async def test_visibility_decides_who_sees(crm: Crm) -> None:
    """REC-1: team → its team; broker → its brokerage; private → the owner; whoever sees a
    record may update it; everyone else gets 404."""
    owner, mate = crm.org.team_of(2)
    sibling = crm.org.agent(crm.org.team(owner.broker_id))  # same broker, other team
    stranger = crm.org.agent()  # other broker
    owner_rest = crm.rest(owner)
    viewers = {"mate": mate, "sibling": sibling, "stranger": stranger}
    expected_access = {
        "team": {"mate"},
        "broker": {"mate", "sibling"},
        "private": set(),
    }
    for visibility, allowed in expected_access.items():
        record = await crm.create(owner_rest, "listing", visibility=visibility)
        for label, agent in viewers.items():
            rest = crm.rest(agent, node=1)
            got = await rest.get("listing", record["id"])
            expect_equal(
                got.status, 200 if label in allowed else 404, f"{visibility} record seen by {label}"
            )
            changed = await rest.update("listing", record["id"], {"notes": f"by {label}"})
            expect_equal(
                changed.status,
                200 if label in allowed else 404,
                f"{visibility} record updated by {label}",
            )
        mine = await owner_rest.get("listing", record["id"])
        expect_equal(mine.status, 200, f"owner reads own {visibility} record")
    shared = await crm.create(owner_rest, "lead", visibility="broker")
    sibling_rest = crm.rest(sibling, node=1)
    for action in ("archive", "restore"):
        done = await getattr(sibling_rest, action)("lead", shared["id"])
        expect_equal(done.status, 200, f"{action} of a broker record by another team")
    gone = await sibling_rest.delete("lead", shared["id"])
    expect_equal(gone.status, 204, "delete of a broker record by another team")
    refused = await crm.rest(stranger).delete("listing", record["id"])
    expect_equal(refused.status, 404, "delete by a user who cannot see the record")


@pytest.mark.req("REC-2")
async def test_create_sets_server_fields_and_is_idempotent(crm: Crm) -> None:
    """REC-2: 201 {data} with server-set fields; a repeated Idempotency-Key answers 200 with
    the original record and Idempotent-Replayed: true, and creates nothing."""
    agent = crm.org.agent()
    rest = crm.rest(agent)
    for entity_type in ENTITY_TYPES:
        record = await crm.create(rest, entity_type)
        expect(isinstance(record["id"], str), "id is a string", observed=record)
        expect_equal(
            {k: record.get(k) for k in ("version", "ownerId", "teamId", "brokerId", "archived")},
            {"version": 1, "ownerId": agent.user_id, "teamId": agent.team_id,
             "brokerId": agent.broker_id, "archived": False},
            f"server-set fields of a new {entity_type}",
        )  # fmt: skip
        stamps = [record.get("createdAt"), record.get("updatedAt")]
        expect(all(is_wire_timestamp(s) for s in stamps), "createdAt/updatedAt", observed=stamps)
    key = uuid.uuid4().hex
    body = sample_record("lead", name="Once Only")
    first = await rest.create("lead", body, idempotency_key=key)
    again = await rest.create("lead", body, idempotency_key=key)
    expect_equal(first.status, 201, "first create with a key")
    expect_equal(again.status, 200, "repeat with the same Idempotency-Key")
    expect_equal(again.record, first.record, "the repeat returns the original record")
    expect_equal(again.headers.get("Idempotent-Replayed"), "true", "Idempotent-Replayed header")
    crm.exercised("MUT-2", "rest")
    listed = await rest.list("lead", limit=200)
    named = [r for r in listed.data or [] if r.get("name") == "Once Only"]
    expect_equal(len(named), 1, "records created by a repeated key")
    too_long = await rest.create("lead", body, idempotency_key="k" * 65)
    details = too_long.error.details if too_long.error else None
    expect_equal(
        (too_long.status, too_long.code, (details or {}).get("field")),
        (400, "VALIDATION_ERROR", "Idempotency-Key"),
        "a 65-character Idempotency-Key",
    )


@pytest.mark.req("REC-3")
async def test_list_newest_first_with_paging(crm: Crm) -> None:
    """REC-3: visible records newest first, {data, total}; limit/offset; archived hidden
    unless includeArchived=true; bad paging is a VALIDATION_ERROR."""
    agent = crm.org.agent()
    rest = crm.rest(agent)
    made = [await crm.create(rest, "client", name=f"C{i}") for i in range(4)]
    listed = await rest.list("client")
    expect_equal(listed.status, 200, "list status")
    expect_equal(listed.body.get("total"), 4, "total of a fresh team's records")
    expect_equal([r["id"] for r in listed.data], [r["id"] for r in reversed(made)], "newest first")
    page = await rest.list("client", limit=2, offset=1)
    expect_equal([r["id"] for r in page.data], [made[2]["id"], made[1]["id"]], "limit+offset")
    expect_equal(page.body.get("total"), 4, "total ignores paging")
    archived = await rest.archive("client", made[0]["id"])
    expect_equal(archived.status, 200, "archive")
    hidden = await rest.list("client")
    expect_equal(hidden.body.get("total"), 3, "archived records are not listed by default")
    shown = await rest.list("client", include_archived=True)
    expect_equal(shown.body.get("total"), 4, "includeArchived=true lists them")
    for params in ({"limit": 0}, {"limit": 201}, {"offset": -1}, {"limit": "x"},
                   {"includeArchived": "yes"}):  # fmt: skip
        bad = await rest.raw("GET", "/api/v1/clients", params=params)
        expect_equal(bad.status, 400, f"list with {params}")
        expect_equal(bad.code, ErrorCode.VALIDATION_ERROR.value, f"list with {params}")


@pytest.mark.req("REC-4")
async def test_get_and_invisible_is_not_found(crm: Crm) -> None:
    """REC-4: GET returns {data}; a missing record and an invisible one give the same 404."""
    owner, stranger = crm.org.agent(), crm.org.agent()
    record = await crm.create(crm.rest(owner), "appointment", visibility="private")
    got = await crm.rest(owner).get("appointment", record["id"])
    expect_equal((got.status, got.record), (200, record), "GET of an own record")
    hidden = await crm.rest(stranger).get("appointment", record["id"])
    missing = await crm.rest(stranger).get("appointment", "no-such-" + uuid.uuid4().hex)
    expect_equal((hidden.status, hidden.code), (404, "NOT_FOUND"), "invisible record")
    expect_equal(hidden.body, missing.body, "invisible and missing must answer the same body")


@pytest.mark.req("REC-5")
async def test_patch_and_if_match(crm: Crm) -> None:
    """REC-5: PATCH sets fields and bumps version; a stale If-Match answers 409
    VERSION_CONFLICT with details.currentVersion and changes nothing."""
    agent = crm.org.agent()
    rest = crm.rest(agent)
    record = await crm.create(rest, "escrow")
    updated = await rest.update("escrow", record["id"], {"status": "pending"}, if_match=1)
    expect_equal(updated.status, 200, "PATCH with the current If-Match")
    expect_equal(
        (updated.record.get("status"), updated.record.get("version")), ("pending", 2), "PATCH"
    )
    stale = await rest.update("escrow", record["id"], {"status": "closed"}, if_match=1)
    expect_equal((stale.status, stale.code), (409, "VERSION_CONFLICT"), "stale If-Match")
    details = stale.error.details if stale.error else None
    expect_equal((details or {}).get("currentVersion"), 2, "details.currentVersion")
    now = await rest.get("escrow", record["id"])
    expect_equal(
        (now.record.get("status"), now.record.get("version")), ("pending", 2), "after conflict"
    )
    for form, version in (("2", 3), ('W/"3"', 4), ("*", 5)):
        accepted = await rest.update("escrow", record["id"], {"notes": form}, if_match=form)
        expect_equal(
            (accepted.status, accepted.record.get("version")), (200, version), f"If-Match {form}"
        )


@pytest.mark.req("REC-6")
async def test_archive_restore_delete(crm: Crm) -> None:
    """REC-6: archive/restore set `archived`, DELETE answers 204; all honour If-Match."""
    rest = crm.rest(crm.org.agent())
    record = await crm.create(rest, "lead")
    rid = record["id"]
    stale = await rest.archive("lead", rid, if_match=7)
    expect_equal((stale.status, stale.code), (409, "VERSION_CONFLICT"), "archive, stale")
    archived = await rest.archive("lead", rid, if_match=1)
    expect_equal((archived.status, archived.record.get("archived")), (200, True), "archive")
    again = await rest.archive("lead", rid)
    expect_equal(
        (again.status, again.record.get("version")),
        (200, archived.record.get("version")),
        "archiving an archived record changes nothing",
    )
    restored = await rest.restore("lead", rid)
    expect_equal((restored.status, restored.record.get("archived")), (200, False), "restore")
    version = restored.record.get("version")
    stale_delete = await rest.delete("lead", rid, if_match=int(version or 0) - 1)
    expect_equal(stale_delete.status, 409, "delete with a stale If-Match")
    deleted = await rest.delete("lead", rid, if_match=version)
    expect_equal(deleted.status, 204, "delete")
    gone = await rest.get("lead", rid)
    expect_equal(gone.status, 404, "GET after delete")


_BAD_BODIES: list[tuple[str, Any, str | None]] = [
    ("unknown field", {"address": "1 A St", "colour": "red"}, "colour"),
    ("read-only field", {"address": "1 A St", "version": 9}, "version"),
    ("wrong type", {"address": "1 A St", "purchasePrice": "lots"}, "purchasePrice"),
    ("out of range", {"address": "1 A St", "purchasePrice": 0}, "purchasePrice"),
    ("bad enum", {"address": "1 A St", "status": "sold"}, "status"),
    ("missing required", {"purchasePrice": 100}, "address"),
    ("not an object", ["address"], None),
]


@pytest.mark.req("REC-7")
async def test_refused_bodies_change_and_emit_nothing(crm: Crm) -> None:
    """REC-7: invalid bodies → 400 VALIDATION_ERROR naming details.field; over
    maxPayloadBytes → 413; visibility in an update → 400; nothing changes, nothing emitted."""
    actor, mate = crm.org.team_of(2)
    watcher = await crm.client(mate, node=1)
    rest = crm.rest(actor)
    record = await crm.create(rest, "escrow")
    created = await crm.wait_data_event(watcher, "escrow", "created", record["id"])
    expect(created is not None, "the teammate did not receive escrow:created")
    start = watcher.mark()
    for label, body, field in _BAD_BODIES:
        response = await rest.create("escrow", body)
        expect_equal((response.status, response.code), (400, "VALIDATION_ERROR"), label)
        if field is not None:
            details = response.error.details if response.error else None
            expect_equal((details or {}).get("field"), field, f"details.field for {label}")
    for label, changes, field in (
        ("visibility in an update", {"visibility": "private"}, "visibility"),
        ("read-only in an update", {"ownerId": "someone"}, "ownerId"),
        ("empty update", {}, None),
    ):
        response = await rest.update("escrow", record["id"], changes)
        expect_equal((response.status, response.code), (400, "VALIDATION_ERROR"), label)
        if field is not None:
            details = response.error.details if response.error else None
            expect_equal((details or {}).get("field"), field, f"details.field for {label}")
    crm.exercised("REC-7", "create", "update", "not-an-object", "too-large")
    huge = {"address": "1 A St", "notes": "x" * (crm.limits.maxPayloadBytes + 10)}
    too_big = await rest.create("escrow", huge)
    expect_equal((too_big.status, too_big.code), (413, "PAYLOAD_TOO_LARGE"), "oversized body")
    raw = await rest.raw("POST", "/api/v1/escrows", content=b"{not json")
    expect_equal((raw.status, raw.code), (400, "VALIDATION_ERROR"), "body that is not JSON")
    await asyncio.sleep(crm.quiet)
    emitted = watcher.received(lambda e: e.name.startswith("escrow:"), since=start)
    expect(not emitted, "a refused request emitted events", observed=[e.payload for e in emitted])
    after = await rest.get("escrow", record["id"])
    expect_equal(after.record, record, "the record after refused updates")
    listed = await rest.list("escrow")
    expect_equal(listed.body.get("total"), 1, "refused creates must create nothing")
