"""§8 Mutations over the socket: same rules as REST, idempotency, offline queues
(MUT-1..MUT-3)."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from typing import Any

import pytest

from harness.client import MutationQueue, RealtimeClient
from harness.spec import ClientEvent, ErrorCode, Op

from ..check_api import Crm, sample_record
from ..failures import expect, expect_equal

pytestmark = pytest.mark.asyncio


def _mutation(op: Op, entity_type: str = "escrow", **fields: Any) -> dict[str, Any]:
    return {"mutationId": uuid.uuid4().hex, "op": op.value, "entityType": entity_type, **fields}


def _copies(client: RealtimeClient, entity_id: str) -> Counter[str]:
    return Counter(e.name for e in client.received(lambda e: e.get("entityId") == entity_id))


@pytest.mark.req("MUT-1")
async def test_mutate_mirrors_rest(crm: Crm) -> None:
    """MUT-1: create/update/archive/restore/delete over the socket ack {ok, data, duplicate:
    false} ({id} for delete), emit via socket; validation, visibility and versions as REST;
    refusals change and emit nothing."""
    owner, mate = crm.org.team_of(2)
    stranger = crm.org.agent()
    actor = await crm.client(owner, node=0)
    watcher = await crm.client(mate, node=1)
    outsider = await crm.client(stranger, node=1)
    created = await actor.request(
        ClientEvent.MUTATE, _mutation(Op.CREATE, changes=sample_record("escrow"))
    )
    expect(created.ok and created.data.get("duplicate") is False, "mutate create",
           observed=created.raw)  # fmt: skip
    record = created.data["data"]
    rid = record["id"]
    expect_equal((record.get("version"), record.get("ownerId")), (1, owner.user_id), "created")
    steps: list[tuple[Op, dict[str, Any], int]] = [
        (Op.UPDATE, {"changes": {"status": "pending"}, "expectedVersion": 1}, 2),
        (Op.ARCHIVE, {}, 3),
        (Op.RESTORE, {"expectedVersion": 3}, 4),
    ]
    for op, extra, version in steps:
        ack = await actor.request(ClientEvent.MUTATE, _mutation(op, id=rid, **extra))
        expect(ack.ok and ack.data.get("duplicate") is False, f"mutate {op}", observed=ack.raw)
        expect_equal(ack.data["data"].get("version"), version, f"version after {op}")
    events = await watcher.wait_for_count(lambda e: e.get("entityId") == rid, 4, 5.0)
    crm.exercised("MUT-1", "op:create", "op:update", "op:archive", "op:restore", "op:delete")
    expect_equal([e.get("via") for e in events], ["socket"] * 4, "via of socket changes")
    mark = watcher.mark()
    refusals = [
        ("unknown field", _mutation(Op.UPDATE, id=rid, changes={"colour": 1}),
         ErrorCode.VALIDATION_ERROR),
        ("missing required", _mutation(Op.CREATE, changes={"purchasePrice": 5}),
         ErrorCode.VALIDATION_ERROR),
        ("visibility in update", _mutation(Op.UPDATE, id=rid, changes={"visibility": "private"}),
         ErrorCode.VALIDATION_ERROR),
        ("stale expectedVersion", _mutation(Op.UPDATE, id=rid, changes={"status": "closed"},
                                            expectedVersion=1), ErrorCode.VERSION_CONFLICT),
        ("unknown record", _mutation(Op.ARCHIVE, id="nope-" + uuid.uuid4().hex),
         ErrorCode.NOT_FOUND),
    ]  # fmt: skip
    for label, payload, code in refusals:
        ack = await actor.request(ClientEvent.MUTATE, payload)
        expect_equal(ack.code, code.value, f"mutate with {label}")
    invisible = await outsider.request(ClientEvent.MUTATE, _mutation(Op.DELETE, id=rid))
    expect_equal(invisible.code, ErrorCode.NOT_FOUND.value, "mutate on an invisible record")
    await asyncio.sleep(crm.quiet)
    noise = watcher.received(lambda e: e.get("entityId") == rid, since=mark)
    expect(not noise, "a refused mutate emitted", observed=[e.payload for e in noise])
    now = await crm.rest(owner).get("escrow", rid)
    expect_equal((now.record.get("version"), now.record.get("status")), (4, "pending"),
                 "record after refused mutations")  # fmt: skip
    deleted = await actor.request(ClientEvent.MUTATE, _mutation(Op.DELETE, id=rid))
    expect(deleted.ok and deleted.data.get("data") == {"id": rid}, "mutate delete ack",
           expected={"ok": True, "data": {"id": rid}, "duplicate": False},
           observed=deleted.raw)  # fmt: skip


@pytest.mark.req("MUT-2")
async def test_mutation_ids_are_idempotent(crm: Crm) -> None:
    """MUT-2: a repeated mutationId returns the original result with duplicate: true and
    emits nothing; Idempotency-Key shares the key space; a key reused for another request is
    IDEMPOTENCY_KEY_REUSED; concurrent requests with one key change the data once."""
    owner, mate = crm.org.team_of(2)
    actor = await crm.client(owner, node=0)
    second = await crm.client(owner, node=1)
    watcher = await crm.client(mate, node=1)
    payload = _mutation(Op.CREATE, "lead", changes=sample_record("lead"))
    first = await actor.request(ClientEvent.MUTATE, payload)
    again = await second.request(ClientEvent.MUTATE, payload)
    expect(first.ok and again.ok, "mutate create twice", observed=[first.raw, again.raw])
    expect_equal(again.data.get("duplicate"), True, "duplicate flag of the repeat")
    expect_equal(again.data.get("data"), first.data.get("data"), "the repeat's data")
    rid = first.data["data"]["id"]
    other = dict(payload, changes=sample_record("lead", name="Different"))
    reused = await actor.request(ClientEvent.MUTATE, other)
    expect_equal(reused.code, ErrorCode.IDEMPOTENCY_KEY_REUSED.value, "key reused, other body")
    rest = crm.rest(owner)
    crm.exercised("MUT-2", "mutate", "rest+mutate")
    shared = await rest.create("lead", sample_record("lead"), idempotency_key=payload["mutationId"])
    expect(shared.status in (200, 422), "Idempotency-Key = a used mutationId must not create",
           observed={"status": shared.status, "body": shared.body})  # fmt: skip
    key = uuid.uuid4().hex
    body = sample_record("client", name="Concurrent Once")
    racing = [
        actor.request(ClientEvent.MUTATE, {"mutationId": key, "op": "create",
                                           "entityType": "client", "changes": body}),
        second.request(ClientEvent.MUTATE, {"mutationId": key, "op": "create",
                                            "entityType": "client", "changes": body}),
        rest.create("client", body, idempotency_key=key),
        crm.rest(owner, node=1).create("client", body, idempotency_key=key),
    ]  # fmt: skip
    await asyncio.gather(*racing)
    await asyncio.sleep(crm.quiet)
    listed = await rest.list("client", limit=200)
    made = [r for r in listed.data or [] if r.get("name") == "Concurrent Once"]
    expect_equal(len(made), 1, "records made by four concurrent requests with one key")
    created_events = watcher.received("client:created")
    expect_equal(len(created_events), 1, "client:created events for one key")
    expect_equal(sum(_copies(watcher, rid).values()), 1, "events for a repeated mutationId")


@pytest.mark.req("MUT-3")
async def test_offline_queue_flushed_twice_applies_once(crm: Crm) -> None:
    """MUT-3: mutations queued while offline, flushed on reconnect and flushed again (lost
    acks), apply once each and emit one event each."""
    owner, mate = crm.org.team_of(2)
    rest = crm.rest(owner)
    to_update = await crm.create(rest, "listing")
    to_archive = await crm.create(rest, "listing")
    watcher = await crm.client(mate, node=1)
    client = crm.realtime(owner, node=0)
    queue = MutationQueue()
    queue.attach(client)
    queue.enqueue(Op.CREATE, "listing", changes=sample_record("listing", address="9 Queue Rd"))
    queue.enqueue(Op.UPDATE, "listing", record_id=to_update["id"], changes={"status": "sold"})
    queue.enqueue(Op.ARCHIVE, "listing", record_id=to_archive["id"])
    await client.reconnect(sync=False)
    expect_equal(len(queue), 0, "queue after the first flush")
    first = [r.ack for r in queue.results]
    expect(all(a.ok and a.data.get("duplicate") is False for a in first), "first flush",
           observed=[a.raw for a in first])  # fmt: skip
    await client.drop_transport()
    queue.requeue_sent()
    await client.reconnect(sync=False)
    second = [r.ack for r in queue.results[3:]]
    expect_equal([a.data.get("duplicate") for a in second], [True] * 3, "second flush")
    created_id = first[0].data["data"]["id"]
    await asyncio.sleep(crm.quiet)
    for rid, name in ((created_id, "listing:created"), (to_update["id"], "listing:updated"),
                      (to_archive["id"], "listing:archived")):  # fmt: skip
        copies = _copies(watcher, rid)
        expect_equal(copies.get(name, 0), 1, f"{name} events for one queued mutation")
    updated = await rest.get("listing", to_update["id"])
    archived = await rest.get("listing", to_archive["id"])
    expect_equal((updated.record.get("version"), updated.record.get("status")), (2, "sold"),
                 "updated once")  # fmt: skip
    expect_equal((archived.record.get("version"), archived.record.get("archived")), (2, True),
                 "archived once")  # fmt: skip
