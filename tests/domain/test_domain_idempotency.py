"""Idempotency keys and concurrency of RecordService (MUT-2, MUT-3, §15), on both stores."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import pytest
from domain_doubles import FakeClock, Harness, LockTable, RecordingPublisher

from harness.spec import Action, ErrorCode, Limits, Op
from reference_server.domain.contracts import Actor, ChangeOutcome, ChangeRequest, DomainError
from reference_server.domain.records import RecordService
from reference_server.store import NewEvent, StoredEvent, open_store

CONCURRENT_DUPLICATES = 20


def create(key: str | None, address: str = "1 Main", **kw: Any) -> ChangeRequest:
    return ChangeRequest(
        Op.CREATE, "escrow", changes={"address": address}, idempotency_key=key, **kw
    )


async def events_of(h: Harness) -> list[StoredEvent]:
    return [e async for e in h.store.iter_all_events()]


async def refused(h: Harness, actor: Actor, request: ChangeRequest) -> DomainError:
    with pytest.raises(DomainError) as caught:
        await h.service.change(actor, request)
    return caught.value


async def test_repeat_returns_the_original_and_changes_nothing(
    domain: Harness, alice: Actor
) -> None:
    """MUT-2, REC-2: same key + same request → original result, duplicate, no change, no event."""
    first = await domain.service.change(alice, create("k-1"))
    await domain.service.change(
        alice, ChangeRequest(Op.UPDATE, "escrow", first.record_id, {"notes": "later"})
    )
    again = await domain.service.change(alice, create("k-1", via="socket"))  # one key space
    assert again.duplicate and again.status == 200 and again.events == ()
    assert again.record == first.record and again.record_id == first.record_id
    assert len(await events_of(domain)) == 2
    assert domain.publisher.batches == 2
    _, total = await domain.service.list(alice, "escrow")
    assert total == 1


async def test_repeated_delete_and_no_op_are_remembered(domain: Harness, alice: Actor) -> None:
    """MUT-2, MUT-3: every op is idempotent, including delete (204) and a no-op restore."""
    record_id = (await domain.service.change(alice, create(None))).record_id
    restore = ChangeRequest(Op.RESTORE, "escrow", record_id, idempotency_key="k-r")
    assert not (await domain.service.change(alice, restore)).duplicate
    assert (await domain.service.change(alice, restore)).duplicate
    delete = ChangeRequest(Op.DELETE, "escrow", record_id, idempotency_key="k-d")
    gone = await domain.service.change(alice, delete)
    repeat = await domain.service.change(alice, delete)
    assert (gone.status, repeat.status, repeat.duplicate) == (204, 204, True)
    assert repeat.record is None and repeat.record_id == record_id
    assert [e.name for e in await events_of(domain)] == ["escrow:created", "escrow:deleted"]


@pytest.mark.parametrize(
    "other",
    [
        create("k-1", address="2 Elm"),
        ChangeRequest(Op.CREATE, "listing", changes={"address": "1 Main"}, idempotency_key="k-1"),
        ChangeRequest(
            Op.CREATE,
            "escrow",
            changes={"address": "1 Main"},
            expected_version=1,
            idempotency_key="k-1",
        ),
    ],
)
async def test_key_reused_for_another_request_is_refused(
    domain: Harness, alice: Actor, other: ChangeRequest
) -> None:
    """§15: a key reused with another op, record or body → IDEMPOTENCY_KEY_REUSED (422)."""
    await domain.service.change(alice, create("k-1"))
    error = await refused(domain, alice, other)
    assert error.code is ErrorCode.IDEMPOTENCY_KEY_REUSED and error.http_status == 422
    assert len(await events_of(domain)) == 1


async def test_key_reused_on_another_record_is_refused(domain: Harness, alice: Actor) -> None:
    """§15: the record id is part of the request."""
    one = (await domain.service.change(alice, create(None))).record_id
    two = (await domain.service.change(alice, create(None))).record_id
    patch = {"notes": "x"}
    await domain.service.change(alice, ChangeRequest(Op.UPDATE, "escrow", one, patch, None, "k"))
    error = await refused(domain, alice, ChangeRequest(Op.UPDATE, "escrow", two, patch, None, "k"))
    assert error.code is ErrorCode.IDEMPOTENCY_KEY_REUSED


async def test_refused_requests_do_not_use_up_the_key(domain: Harness, alice: Actor) -> None:
    """§15: only successful changes are remembered."""
    record_id = (await domain.service.change(alice, create(None))).record_id
    bad = ChangeRequest(Op.UPDATE, "escrow", record_id, {"bogus": 1}, idempotency_key="k")
    assert (await refused(domain, alice, bad)).code is ErrorCode.VALIDATION_ERROR
    stale = ChangeRequest(Op.UPDATE, "escrow", record_id, {"notes": "x"}, 9, "k")
    assert (await refused(domain, alice, stale)).code is ErrorCode.VERSION_CONFLICT
    good = ChangeRequest(Op.UPDATE, "escrow", record_id, {"notes": "x"}, 1, "k")
    assert not (await domain.service.change(alice, good)).duplicate
    assert (await domain.service.change(alice, good)).duplicate


async def test_keys_are_per_user_and_expire(domain: Harness, alice: Actor, bob: Actor) -> None:
    """MUT-2: one key space PER USER; a key older than idempotencyTtlSeconds is forgotten."""
    await domain.service.change(alice, create("k"))
    assert not (await domain.service.change(bob, create("k"))).duplicate
    domain.clock.value += domain.service.limits.idempotencyTtlSeconds - 1
    assert (await domain.service.change(alice, create("k"))).duplicate
    domain.clock.value += 2
    fresh = await domain.service.change(alice, create("k"))
    assert not fresh.duplicate
    assert (await domain.service.change(alice, create("k"))).record == fresh.record
    _, total = await domain.service.list(alice, "escrow")
    assert total == 3


@pytest.mark.parametrize("field", ["Idempotency-Key", "mutationId"])
@pytest.mark.parametrize("key", ["", "k" * 65])
async def test_key_outside_1_to_64_chars_is_a_validation_error(
    domain: Harness, alice: Actor, field: str, key: str
) -> None:
    """§15, MUT-2: a key outside 1–64 characters names the field the transport used."""
    error = await refused(
        domain,
        alice,
        ChangeRequest(
            Op.CREATE,
            "escrow",
            changes={"address": "x"},
            idempotency_key=key,
            idempotency_key_field=field,
        ),
    )
    assert error.code is ErrorCode.VALIDATION_ERROR and error.details == {"field": field}
    assert not (await domain.service.change(alice, create("k" * 64))).duplicate


async def _fire_concurrently(
    services: Sequence[RecordService], actor: Actor, request: ChangeRequest
) -> list[ChangeOutcome]:
    jobs = [
        services[i % len(services)].change(actor, request) for i in range(CONCURRENT_DUPLICATES)
    ]
    return await asyncio.gather(*jobs)


def _assert_changed_once(outcomes: list[ChangeOutcome], events: list[StoredEvent]) -> None:
    originals = [o for o in outcomes if not o.duplicate]
    assert len(originals) == 1 and len(events) == 1
    assert {o.record_id for o in outcomes} == {originals[0].record_id}
    assert all(o.record == originals[0].record for o in outcomes)


async def test_concurrent_duplicates_change_once_sqlite(domain: Harness, alice: Actor) -> None:
    """MUT-2: 20 concurrent identical requests with one key change the data once."""
    outcomes = await _fire_concurrently([domain.service], alice, create("same"))
    _assert_changed_once(outcomes, await events_of(domain))
    assert len(domain.publisher.published) == 1


@pytest.fixture
async def two_pg_nodes(postgres_url: str) -> AsyncIterator[list[Harness]]:
    nodes = []
    for _ in range(2):
        clock, locks, publisher = FakeClock(), LockTable(), RecordingPublisher()
        store = open_store(postgres_url, clock=clock)
        await store.open()
        service = RecordService(store, locks, publisher, Limits(), clock)
        nodes.append(Harness(service, store, clock, locks, publisher))
    try:
        yield nodes
    finally:
        for node in nodes:
            await node.store.close()


async def test_concurrent_duplicates_change_once_across_pg_nodes(
    two_pg_nodes: list[Harness], alice: Actor
) -> None:
    """MUT-2, CLU-1: 20 concurrent identical requests over two PostgreSQL nodes change once."""
    services = [node.service for node in two_pg_nodes]
    outcomes = await _fire_concurrently(services, alice, create("same"))
    _assert_changed_once(outcomes, await events_of(two_pg_nodes[0]))
    record_id = outcomes[0].record_id
    update = ChangeRequest(Op.UPDATE, "escrow", record_id, {"notes": "n"}, idempotency_key="u")
    updates = await _fire_concurrently(services, alice, update)
    assert sum(not o.duplicate for o in updates) == 1
    assert [e.payload["version"] for e in await events_of(two_pg_nodes[1])] == [1, 2]


async def test_concurrent_distinct_updates_serialise_on_pg(
    two_pg_nodes: list[Harness], alice: Actor
) -> None:
    """REC-5, STR-1, CLU-1: concurrent changes of one record on two nodes: versions 2..N+1."""
    first = await two_pg_nodes[0].service.change(alice, create(None))
    jobs = [
        two_pg_nodes[i % 2].service.change(
            alice, ChangeRequest(Op.UPDATE, "escrow", first.record_id, {"notes": f"n{i}"})
        )
        for i in range(10)
    ]
    outcomes = await asyncio.gather(*jobs)
    versions = sorted(o.record["version"] for o in outcomes if o.record is not None)
    assert versions == list(range(2, 12))
    events = await events_of(two_pg_nodes[0])
    assert [e.seq for e in events] == list(range(1, 12))
    assert sorted(e.payload["version"] for e in events) == list(range(1, 12))


class _BrokenPublisher:
    async def publish(self, events: Sequence[StoredEvent]) -> None:
        raise ConnectionError("fan-out down")


async def test_publish_failure_does_not_undo_a_stored_change(domain: Harness, alice: Actor) -> None:
    """EVT-5, STR-5: the change and its event are durable; clients recover them by sync."""
    domain.service.publisher = _BrokenPublisher()
    outcome = await domain.service.change(alice, create(None))
    assert [e.event_id for e in await events_of(domain)] == [outcome.events[0].event_id]


class _NotifyingService(RecordService):
    """The COL-7 seam: an extra event stored in the same transaction as the change."""

    async def extra_events_for(
        self, actor: Actor, request: ChangeRequest, record: Mapping[str, Any], action: Action
    ) -> Sequence[NewEvent]:
        events = await super().extra_events_for(actor, request, record, action)
        return [
            NewEvent(e.stream, e.name, {**e.payload, "entityType": request.entity_type})
            for e in events
        ]

    async def extra_events(
        self,
        actor: Actor,
        record: Mapping[str, Any],
        action: Action,
    ) -> list[NewEvent]:
        if actor.user_id == record["ownerId"] or action is Action.CREATED:
            return []
        return [NewEvent(f"user:{record['ownerId']}", "notification", {"kind": f"record.{action}"})]


async def test_extra_events_share_the_transaction(
    domain: Harness, alice: Actor, bob: Actor
) -> None:
    """COL-7, STR-1: extra events get seqs on their own stream, commit and publish with the change,
    and vanish with a refused one."""
    service = _NotifyingService(
        domain.store, domain.locks, domain.publisher, domain.service.limits, domain.clock
    )
    created = await service.change(alice, create(None))
    changed = await service.change(
        bob, ChangeRequest(Op.UPDATE, "escrow", created.record_id, {"notes": "hi"})
    )
    assert [(e.stream, e.seq, e.name) for e in changed.events] == [
        ("team:t-1", 2, "escrow:updated"),
        ("user:u-alice", 1, "notification"),
    ]
    assert changed.events[1].payload == {"kind": "record.updated", "entityType": "escrow"}
    assert domain.publisher.published[-2:] == list(changed.events)
    with pytest.raises(DomainError):
        await service.change(
            bob, ChangeRequest(Op.UPDATE, "escrow", created.record_id, {"notes": "x"}, 1)
        )
    assert await domain.store.stream_heads(["user:u-alice"]) == {"user:u-alice": 1}


async def test_purge_forgets_expired_keys_only(domain: Harness, alice: Actor) -> None:
    """MUT-2: purging drops keys past idempotencyTtlSeconds; a live key still replays."""
    await domain.service.change(alice, create("old"))
    domain.clock.value += domain.service.limits.idempotencyTtlSeconds
    await domain.service.change(alice, create("young"))
    domain.clock.value += 1
    assert await domain.service.purge_expired_keys() == 1
    assert (await domain.service.change(alice, create("young"))).duplicate
    assert not (await domain.service.change(alice, create("old"))).duplicate
