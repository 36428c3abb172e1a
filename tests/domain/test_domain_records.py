"""RecordService: versions, visibility, events and their `changes`, refusals and precedence."""

from __future__ import annotations

from typing import Any

import pytest
from domain_doubles import Harness

from harness.spec import ErrorCode, Op, data_event_name
from reference_server.domain.clock import iso_from_epoch
from reference_server.domain.contracts import Actor, ChangeOutcome, ChangeRequest, DomainError
from reference_server.state.base import EditLock


async def create(
    h: Harness, actor: Actor, entity_type: str = "escrow", **fields: Any
) -> ChangeOutcome:
    body = {"address": "1 Main St", **fields} if entity_type in ("escrow", "listing") else fields
    return await h.service.change(actor, ChangeRequest(Op.CREATE, entity_type, changes=body))


async def change(
    h: Harness, actor: Actor, op: Op, record_id: str, changes: Any = None, **kw: Any
) -> ChangeOutcome:
    return await h.service.change(actor, ChangeRequest(op, "escrow", record_id, changes, **kw))


async def refused(h: Harness, actor: Actor, request: ChangeRequest) -> DomainError:
    with pytest.raises(DomainError) as caught:
        await h.service.change(actor, request)
    return caught.value


async def all_events(h: Harness) -> list[Any]:
    return [e async for e in h.store.iter_all_events()]


async def test_create_sets_server_fields_and_emits_whole_record(
    domain: Harness, alice: Actor
) -> None:
    """REC-2, EVT-3, EVT-4: version 1, owner/team/broker from the creator, one created event."""
    created = await create(domain, alice, myCommission=1500, tags=["hot"])
    record = created.record
    assert created.status == 201 and record is not None
    assert record["version"] == 1 and record["archived"] is False
    assert (record["ownerId"], record["teamId"], record["brokerId"]) == ("u-alice", "t-1", "b-1")
    assert record["visibility"] == "team"
    assert record["createdAt"] == record["updatedAt"] == iso_from_epoch(domain.clock.now())
    (event,) = created.events
    assert event.name == data_event_name("escrow", "created")
    assert event.stream == "team:t-1" and event.seq == 1 and event.owner_id == "u-alice"
    assert event.payload["changes"] == record
    assert event.payload["version"] == 1 and event.payload["via"] == "api"
    assert event.payload["taskId"] is None and event.payload["actorId"] == "u-alice"
    assert domain.publisher.published == list(created.events)


@pytest.mark.parametrize(
    ("visibility", "stream"),
    [("team", "team:t-1"), ("broker", "broker:b-1"), ("private", "user:u-alice")],
)
async def test_event_stream_follows_visibility(
    domain: Harness, alice: Actor, visibility: str, stream: str
) -> None:
    """EVT-1, STR-1: a data event goes on the stream of its record's audience."""
    created = await create(domain, alice, visibility=visibility)
    assert [e.stream for e in created.events] == [stream]


async def test_update_changes_exactly_the_set_fields(domain: Harness, alice: Actor) -> None:
    """EVT-3, REC-5: `changes` holds the set fields plus updatedAt; version +1; null clears."""
    created = await create(domain, alice, notes="old", status="open")
    domain.clock.value += 5
    updated = await change(
        domain, alice, Op.UPDATE, created.record_id, {"status": "open", "notes": None}
    )
    record = updated.record
    assert record is not None and record["version"] == 2 and "notes" not in record
    assert record["status"] == "open"  # the same value still counts as a change (§15)
    (event,) = updated.events
    now = iso_from_epoch(domain.clock.now())
    assert event.payload["changes"] == {"status": "open", "notes": None, "updatedAt": now}
    assert event.payload["version"] == 2 and event.seq == 2
    assert await domain.service.get(alice, "escrow", created.record_id) == record


async def test_archive_restore_and_their_no_ops(domain: Harness, alice: Actor) -> None:
    """REC-6, EVT-3: archived/restored carry {archived, updatedAt}; repeating one is a no-op."""
    record_id = (await create(domain, alice)).record_id
    archived = await change(domain, alice, Op.ARCHIVE, record_id)
    assert archived.record is not None and archived.record["archived"] is True
    assert [e.payload["changes"]["archived"] for e in archived.events] == [True]
    assert set(archived.events[0].payload["changes"]) == {"archived", "updatedAt"}
    again = await change(domain, alice, Op.ARCHIVE, record_id)
    assert again.status == 200 and again.events == () and again.record == archived.record
    updated = await change(domain, alice, Op.UPDATE, record_id, {"notes": "still editable"})
    assert updated.record is not None and updated.record["version"] == 3
    restored = await change(domain, alice, Op.RESTORE, record_id)
    assert restored.record is not None and restored.record["archived"] is False
    assert restored.events[0].name == "escrow:restored"
    noop = await change(domain, alice, Op.RESTORE, record_id)
    assert noop.events == () and noop.record == restored.record
    assert [e.seq for e in await all_events(domain)] == [1, 2, 3, 4]


async def test_delete_event_version_is_last_plus_one(domain: Harness, alice: Actor) -> None:
    """EVT-3, REC-6: deleted → status 204, changes {}, version last + 1; the record is gone."""
    record_id = (await create(domain, alice)).record_id
    await change(domain, alice, Op.UPDATE, record_id, {"notes": "x"})
    deleted = await change(domain, alice, Op.DELETE, record_id)
    assert deleted.status == 204 and deleted.record is None
    (event,) = deleted.events
    assert event.payload["changes"] == {} and event.payload["version"] == 3
    with pytest.raises(DomainError) as caught:
        await domain.service.get(alice, "escrow", record_id)
    assert caught.value.code is ErrorCode.NOT_FOUND


async def test_invisible_record_is_not_found_like_a_missing_one(
    domain: Harness, alice: Actor, bob: Actor, carol: Actor, mallory: Actor
) -> None:
    """REC-1, REC-4: team/broker/private audiences; an invisible record is NOT_FOUND."""
    team = (await create(domain, alice)).record_id
    broker = (await create(domain, alice, visibility="broker")).record_id
    private = (await create(domain, alice, visibility="private")).record_id
    sees = {
        actor.user_id: {
            rid for rid in (team, broker, private) if await _visible(domain, actor, rid)
        }
        for actor in (alice, bob, carol, mallory)
    }
    assert sees == {
        "u-alice": {team, broker, private},
        "u-bob": {team, broker},
        "u-carol": {broker},
        "u-mallory": set(),
    }
    missing = await refused(domain, mallory, ChangeRequest(Op.UPDATE, "escrow", "nope", {"x": 1}))
    hidden = await refused(domain, mallory, ChangeRequest(Op.UPDATE, "escrow", team, {"x": 1}))
    assert missing.to_json() == hidden.to_json()
    assert hidden.code is ErrorCode.NOT_FOUND


async def _visible(h: Harness, actor: Actor, record_id: str) -> bool:
    try:
        await h.service.get(actor, "escrow", record_id)
    except DomainError as exc:
        assert exc.code is ErrorCode.NOT_FOUND
        return False
    return True


async def test_teammate_may_change_visible_record(
    domain: Harness, alice: Actor, bob: Actor
) -> None:
    """REC-1, EVT-4: everyone who sees a record may change it; actorId and via say who and how."""
    record_id = (await create(domain, alice)).record_id
    outcome = await domain.service.change(
        bob, ChangeRequest(Op.UPDATE, "escrow", record_id, {"status": "closed"}, via="socket")
    )
    (event,) = outcome.events
    assert event.payload["actorId"] == "u-bob" and event.payload["via"] == "socket"
    assert event.owner_id == "u-alice"  # the owner, not the actor, sees true values


async def test_ai_changes_carry_task_id(domain: Harness, alice: Actor) -> None:
    """EVT-4, AI-6: via "ai" with the task id."""
    outcome = await domain.service.change(
        alice,
        ChangeRequest(Op.CREATE, "escrow", changes={"address": "x"}, via="ai", task_id="task-1"),
    )
    assert (outcome.events[0].payload["via"], outcome.events[0].payload["taskId"]) == (
        "ai",
        "task-1",
    )


async def test_version_conflict_changes_nothing(domain: Harness, alice: Actor) -> None:
    """REC-5: a stale expected version → VERSION_CONFLICT with currentVersion; nothing stored."""
    record_id = (await create(domain, alice)).record_id
    await change(domain, alice, Op.UPDATE, record_id, {"notes": "v2"}, expected_version=1)
    for op in (Op.UPDATE, Op.ARCHIVE, Op.DELETE):
        error = await refused(
            domain, alice, ChangeRequest(op, "escrow", record_id, {"notes": "v3"}, 1)
        )
        assert error.code is ErrorCode.VERSION_CONFLICT
        assert error.details == {"currentVersion": 2}
    assert len(await all_events(domain)) == 2
    assert (await domain.service.get(alice, "escrow", record_id))["version"] == 2


async def test_lock_held_by_another_refuses_and_holder_may_change(
    domain: Harness, alice: Actor, bob: Actor
) -> None:
    """COL-5: another user's edit lock → LOCKED with the holder; the holder is not refused."""
    record_id = (await create(domain, alice)).record_id
    expires = domain.clock.now() + 30
    domain.locks.locks[f"escrow:{record_id}"] = EditLock("u-bob", "Bob", expires)
    for op in (Op.UPDATE, Op.ARCHIVE, Op.RESTORE, Op.DELETE):
        error = await refused(domain, alice, ChangeRequest(op, "escrow", record_id, {"notes": "x"}))
        assert error.code is ErrorCode.LOCKED
        assert error.details == {
            "userId": "u-bob",
            "name": "Bob",
            "expiresAt": iso_from_epoch(expires),
        }
    await change(domain, bob, Op.UPDATE, record_id, {"notes": "mine"})
    assert len(await all_events(domain)) == 2


async def test_refusal_precedence_404_400_423_409(
    domain: Harness, alice: Actor, mallory: Actor
) -> None:
    """§15 precedence: 404 before 400 before 423 before 409; refusals emit nothing (REC-7)."""
    record_id = (await create(domain, alice)).record_id
    domain.locks.locks[f"escrow:{record_id}"] = EditLock("u-bob", "Bob", domain.clock.now() + 9)
    everything_wrong = ChangeRequest(Op.UPDATE, "escrow", record_id, {"bogus": 1}, 7)
    assert (await refused(domain, mallory, everything_wrong)).code is ErrorCode.NOT_FOUND
    assert (await refused(domain, alice, everything_wrong)).code is ErrorCode.VALIDATION_ERROR
    locked_and_stale = ChangeRequest(Op.UPDATE, "escrow", record_id, {"notes": "ok"}, 7)
    assert (await refused(domain, alice, locked_and_stale)).code is ErrorCode.LOCKED
    domain.locks.locks.clear()
    assert (await refused(domain, alice, locked_and_stale)).code is ErrorCode.VERSION_CONFLICT
    assert domain.publisher.batches == 1  # only the create was published


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (ChangeRequest(Op.CREATE, "house", changes={"address": "x"}), "entityType"),
        (ChangeRequest(Op.UPDATE, "escrow", None, {"notes": "x"}), "id"),
        (ChangeRequest(Op.UPDATE, "escrow", "", {"notes": "x"}), "id"),
        (ChangeRequest("explode", "escrow", "r", {"notes": "x"}), "op"),  # type: ignore[arg-type]
        (ChangeRequest(Op.UPDATE, "escrow", "r", {"notes": "x"}, True), "expectedVersion"),
        (ChangeRequest(Op.UPDATE, "escrow", "r", {"notes": "x"}, "2"), "expectedVersion"),  # type: ignore[arg-type]
        (ChangeRequest(Op.CREATE, "escrow", changes={}), "address"),
    ],
)
async def test_malformed_requests_are_validation_errors(
    domain: Harness, alice: Actor, request_: ChangeRequest, field: str
) -> None:
    """REC-7, LIM-5: a request of the wrong shape names the bad field and stores nothing."""
    error = await refused(domain, alice, request_)
    assert error.code is ErrorCode.VALIDATION_ERROR and error.details == {"field": field}
    assert await all_events(domain) == []


async def test_list_scopes_orders_and_pages(
    domain: Harness, alice: Actor, bob: Actor, mallory: Actor
) -> None:
    """REC-3, REC-1: visible records only, newest first even within one millisecond (ties by
    id), archived on request."""
    ids = []
    for step in range(5):
        domain.clock.value += 1 if step < 2 else 0  # records 1..4 share a createdAt
        ids.append((await create(domain, alice)).record_id)
    await create(domain, alice, visibility="private")
    await create(domain, mallory)
    await change(domain, alice, Op.ARCHIVE, ids[0])
    records, total = await domain.service.list(bob, "escrow", limit=2, offset=0)
    assert total == 4 and len(records) == 2
    everything, total_all = await domain.service.list(bob, "escrow", include_archived=True)
    assert total_all == 5
    assert [r["id"] for r in everything] == ids[::-1]
    assert [r["id"] for r in records] == [r["id"] for r in everything[:2]]
    page2, _ = await domain.service.list(bob, "escrow", limit=2, offset=2)
    assert [r["id"] for r in page2] == [r["id"] for r in everything[2:4]]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 201}, "limit"),
        ({"limit": True}, "limit"),
        ({"limit": "5"}, "limit"),
        ({"offset": -1}, "offset"),
        ({"include_archived": "true"}, "includeArchived"),
    ],
)
async def test_list_bounds(domain: Harness, alice: Actor, kwargs: Any, field: str) -> None:
    """REC-3, §15: limit 1–200, offset ≥ 0, includeArchived a bool."""
    with pytest.raises(DomainError) as caught:
        await domain.service.list(alice, "escrow", **kwargs)
    assert caught.value.details == {"field": field}
