"""The RecordStore contract, run against BOTH backends (SQLite file, PostgreSQL database)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from reference_server.store import (
    IdempotencyEntry,
    NewEvent,
    RecordStore,
    StoredEvent,
    open_store,
)
from reference_server.store.base import StoredTask
from tests.store.store_backends import BACKENDS, backend_url

StoreFactory = Callable[[], RecordStore]


class Boom(Exception):
    """Raised inside a transaction to make it roll back."""


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return backend_url(request, tmp_path, "contract")


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[RecordStore]:
    opened = open_store(store_url)
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


def record(record_id: str, **overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": record_id,
        "version": 1,
        "ownerId": "u-1",
        "teamId": "t-1",
        "brokerId": "b-1",
        "visibility": "team",
        "address": "1 Main St",
        "myCommission": 12.5,
        "tags": ["a", "ü"],
        "customFields": {"nested": {"ok": True, "n": None}},
        "createdAt": "2026-11-26T12:00:00.000Z",
        "updatedAt": "2026-11-26T12:00:00.000Z",
        "archived": False,
    }
    return {**base, **overrides}


def event(stream: str, n: int = 0) -> NewEvent:
    return NewEvent(stream, "escrow:updated", {"n": n, "changes": {}}, "u-1", "escrow")


async def test_records_round_trip_with_json_types(store: RecordStore) -> None:
    """REC-2, REC-5, REC-6: insert, update, delete; JSON values come back as stored."""
    async with store.transaction() as uow:
        await uow.insert_record("escrow", record("r1"))
        assert await uow.get_record("escrow", "r1") == record("r1")  # sees its own write
    assert await store.get_record("escrow", "r1") == record("r1")
    assert await store.get_record("listing", "r1") is None  # ids are per entity type
    async with store.transaction() as uow:
        await uow.update_record("escrow", record("r1", version=2, archived=True))
    assert await store.get_record("escrow", "r1") == record("r1", version=2, archived=True)
    async with store.transaction() as uow:
        await uow.delete_record("escrow", "r1")
    assert await store.get_record("escrow", "r1") is None


async def test_rollback_leaves_nothing_and_uncommitted_is_invisible(store: RecordStore) -> None:
    """EVT-5, REC-7: nothing is visible before commit; a failed transaction leaves no trace."""
    with pytest.raises(Boom):
        async with store.transaction() as uow:
            await uow.claim_idempotency_key("u-1", "k")
            await uow.insert_record("escrow", record("r1"))
            await uow.append_event(event("team:t-1"))
            await uow.remember_idempotency_key("u-1", "k", IdempotencyEntry("f", 201, {}, 1.0))
            assert await store.get_record("escrow", "r1") is None
            assert await store.stream_heads(["team:t-1"]) == {"team:t-1": 0}
            raise Boom
    assert await store.get_record("escrow", "r1") is None
    assert await store.read_stream("team:t-1", 0) == []
    assert await store.stream_heads(["team:t-1"]) == {"team:t-1": 0}
    async with store.transaction() as uow:
        assert await uow.claim_idempotency_key("u-1", "k") is None  # the key is free again
        stored = await uow.append_event(event("team:t-1"))
    assert stored.seq == 1  # the rolled-back seq is not lost: no gap (STR-1)


async def test_seq_is_gapless_per_stream(store: RecordStore) -> None:
    """STR-1: seq starts at 1 and rises by exactly 1 per event, per stream."""
    appended: list[StoredEvent] = []
    for n in range(7):
        async with store.transaction() as uow:
            appended.append(await uow.append_event(event("team:t-1" if n % 2 else "user:u-1", n)))
    by_stream: dict[str, list[int]] = {}
    for e in appended:
        by_stream.setdefault(e.stream, []).append(e.seq)
    assert by_stream == {"user:u-1": [1, 2, 3, 4], "team:t-1": [1, 2, 3]}
    assert len({e.event_id for e in appended}) == 7
    assert await store.stream_heads(["team:t-1", "user:u-1", "broker:none"]) == {
        "team:t-1": 3,
        "user:u-1": 4,
        "broker:none": 0,
    }


async def test_read_stream_replays_in_order(store: RecordStore) -> None:
    """STR-2, STR-3: events after a cursor, ascending, with stored_at for the replay window."""
    async with store.transaction() as uow:
        stored = [await uow.append_event(event("team:t-1", n)) for n in range(5)]
    after_two = await store.read_stream("team:t-1", 2)
    assert after_two == stored[2:]
    assert await store.read_stream("team:t-1", 2, limit=1) == stored[2:3]
    assert await store.read_stream("team:t-1", 5) == []
    first = after_two[0]
    assert first.payload == {"n": 2, "changes": {}} and first.owner_id == "u-1"
    assert first.entity_type == "escrow" and first.name == "escrow:updated"
    assert first.timestamp.endswith("Z") and first.stored_at > 0
    wire = first.wire()
    assert (wire["eventId"], wire["stream"], wire["seq"]) == (first.event_id, "team:t-1", 3)


async def test_recent_events_newest_first_and_filtered(store: RecordStore) -> None:
    """COL-8: newest first across streams; name prefixes filter (the activity feed)."""
    streams = ["team:t-1", "user:u-1", "broker:b-1"]
    async with store.transaction() as uow:
        for n in range(6):
            await uow.append_event(event(streams[n % 3], n))
        await uow.append_event(NewEvent("user:u-1", "notification", {"n": 6}))
    recent = await store.recent_events(streams, 4)
    assert [e.payload["n"] for e in recent] == [6, 5, 4, 3]
    data_only = await store.recent_events(streams[:2], 10, names_prefixes=["escrow:"])
    assert [e.payload["n"] for e in data_only] == [4, 3, 1, 0]
    assert await store.recent_events(streams, 10, names_prefixes=["escrow_"]) == []


async def test_iter_all_events_yields_everything(store: RecordStore) -> None:
    """STR-1: tooling sees every stored event once."""
    async with store.transaction() as uow:
        for n in range(5):
            await uow.append_event(event(f"team:t-{n % 2}", n))
    seen = [e async for e in store.iter_all_events()]
    assert sorted(e.payload["n"] for e in seen) == [0, 1, 2, 3, 4]
    paged = [e async for e in store.iter_all_events(page_size=2)]  # type: ignore[call-arg]
    assert paged == seen


async def test_idempotency_entries_are_remembered(store: RecordStore) -> None:
    """MUT-2: a committed key returns its entry to the next claim, per user."""
    entry = IdempotencyEntry("fp", 201, {"id": "r1", "n": 1.5}, 1234.5, {"recordId": "r1"})
    async with store.transaction() as uow:
        assert await uow.claim_idempotency_key("u-1", "k") is None
        await uow.remember_idempotency_key("u-1", "k", entry)
    async with store.transaction() as uow:
        assert await uow.claim_idempotency_key("u-1", "k") == entry
        assert await uow.claim_idempotency_key("u-2", "k") is None  # another user's key space
        await uow.remember_idempotency_key("u-1", "k", IdempotencyEntry("fp2", 204, None, 2.0))
    async with store.transaction() as uow:
        assert await uow.claim_idempotency_key("u-1", "k") == IdempotencyEntry(
            "fp2", 204, None, 2.0
        )


async def test_list_records_scopes_orders_pages(store: RecordStore) -> None:
    """REC-1, REC-3: visible records only, newest createdAt first, ties by id descending,
    archived opt-in."""
    rows = [
        record("r-b", createdAt="2026-11-26T12:00:02.000Z"),
        record("r-a", createdAt="2026-11-26T12:00:02.000Z", visibility="broker", teamId="t-2"),
        record("r-c", createdAt="2026-11-26T12:00:03.000Z", archived=True),
        record("r-d", createdAt="2026-11-26T12:00:01.000Z", visibility="private"),
        record("r-e", createdAt="2026-11-26T12:00:04.000Z", visibility="private", ownerId="u-9"),
        record("r-f", createdAt="2026-11-26T12:00:05.000Z", teamId="t-2"),
    ]
    async with store.transaction() as uow:
        for row in rows:
            await uow.insert_record("escrow", row)
        await uow.insert_record("listing", record("r-z"))

    async def ids(user: str, **kw: Any) -> tuple[list[str], int]:
        scope = {"user_id": user, "team_id": "t-1", "broker_id": "b-1"}
        args = {"limit": 50, "offset": 0, "include_archived": False, **scope, **kw}
        found, total = await store.list_records("escrow", **args)
        return [r["id"] for r in found], total

    assert await ids("u-1") == (["r-b", "r-a", "r-d"], 3)
    assert await ids("u-1", include_archived=True) == (["r-c", "r-b", "r-a", "r-d"], 4)
    assert await ids("u-1", limit=2, offset=1) == (["r-a", "r-d"], 3)
    assert await ids("u-2") == (["r-b", "r-a"], 2)
    assert await ids("u-9", team_id="t-9", broker_id="b-9") == (["r-e"], 1)  # own private one
    assert await ids("u-8", team_id="t-9", broker_id="b-9") == ([], 0)


async def test_everything_survives_a_restart(store_url: str) -> None:
    """CLU-2: close the store, open a new one on the same data: records, events, heads, keys,
    task rows."""
    first = open_store(store_url)
    await first.open()
    entry = IdempotencyEntry("fp", 200, {"id": "r1"}, 99.0, {"recordId": "r1"})
    async with first.transaction() as uow:
        await uow.insert_record("escrow", record("r1"))
        stored = [await uow.append_event(event("team:t-1", n)) for n in range(3)]
        await uow.remember_idempotency_key("u-1", "k", entry)
        await uow.save_task(task("t-1", status="running"))
    await first.close()
    assert not await first.ping()

    second = open_store(store_url)
    await second.open()
    try:
        assert await second.ping()
        assert await second.get_record("escrow", "r1") == record("r1")
        assert await second.read_stream("team:t-1", 0) == stored
        assert await second.stream_heads(["team:t-1"]) == {"team:t-1": 3}
        assert await second.unfinished_tasks("node-1") == [task("t-1", status="running")]
        async with second.transaction() as uow:
            assert await uow.claim_idempotency_key("u-1", "k") == entry
            assert (await uow.append_event(event("team:t-1"))).seq == 4
    finally:
        await second.close()


def task(task_id: str, **overrides: Any) -> StoredTask:
    base: dict[str, Any] = {
        "task_id": task_id,
        "user_id": "u-1",
        "node": "node-1",
        "status": "queued",
        "created_at": "2026-11-26T12:00:00.000Z",
        "data": {"type": "create_escrow", "progress": 0, "params": {"price": 1.5}},
    }
    return StoredTask(**{**base, **overrides})


async def test_ai_task_rows(store: RecordStore) -> None:
    """AI-7: task rows are saved with their event's transaction, updated in place, listed
    newest first per user, and a restarted node finds the ones it left unfinished."""
    with pytest.raises(Boom):
        async with store.transaction() as uow:
            await uow.save_task(task("t-0"))
            raise Boom
    assert await store.get_task("t-0") is None
    async with store.transaction() as uow:
        await uow.save_task(task("t-1"))
        await uow.save_task(task("t-2", created_at="2026-11-26T12:00:01.000Z", status="running"))
        await uow.save_task(task("t-3", user_id="u-2", node="node-2"))
        await uow.save_task(task("t-4", created_at="2026-11-26T12:00:02.000Z"))
    async with store.transaction() as uow:
        current = await uow.get_task("t-4")
        assert current == task("t-4", created_at="2026-11-26T12:00:02.000Z")
        finished = task("t-4", created_at=current.created_at, status="completed")
        await uow.save_task(finished)
    assert await store.get_task("t-4") == finished
    assert [t.task_id for t in await store.list_tasks("u-1", 10)] == ["t-4", "t-2", "t-1"]
    assert [t.task_id for t in await store.list_tasks("u-1", 1)] == ["t-4"]
    assert sorted(t.task_id for t in await store.unfinished_tasks("node-1")) == ["t-1", "t-2"]
    assert [t.task_id for t in await store.unfinished_tasks("node-2")] == ["t-3"]


async def test_purge_forgets_only_old_keys_in_batches(
    store: RecordStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MUT-2: keys remembered before the cut-off are forgotten, newer ones stay."""
    monkeypatch.setattr("reference_server.store._sql.PURGE_BATCH", 2)  # several batches
    async with store.transaction() as uow:
        for n in range(5):
            entry = IdempotencyEntry(f"fp{n}", 200, None, 100.0 + n)
            await uow.remember_idempotency_key("u-1", f"k{n}", entry)
    assert await store.purge_idempotency_keys(103.0) == 3
    assert await store.purge_idempotency_keys(103.0) == 0
    async with store.transaction() as uow:
        kept = [await uow.claim_idempotency_key("u-1", f"k{n}") for n in range(5)]
    assert [e.fingerprint if e else None for e in kept] == [None, None, None, "fp3", "fp4"]
