"""The outbox half of the RecordStore contract, on BOTH backends: a cluster node's committed
events stay in the outbox until their publication is settled (`realtime.outbox`)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from reference_server.store import NewEvent, RecordStore, open_store
from tests.store.store_backends import BACKENDS, backend_url

NODE = "node-a"


@dataclass
class FakeClock:
    """Epoch seconds that only move when a test moves them."""

    value: float = 1_790_000_000.0

    def now(self) -> float:
        return self.value


class Boom(Exception):
    """Raised inside a transaction to make it roll back."""


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return backend_url(request, tmp_path, "outbox")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def stores(store_url: str, clock: FakeClock) -> AsyncIterator[list[RecordStore]]:
    """[a store keeping an outbox for NODE, one keeping none], on the same database."""
    opened = [
        open_store(store_url, clock=clock, outbox_node=NODE),
        open_store(store_url, clock=clock),
    ]
    for store in opened:
        await store.open()
    try:
        yield opened
    finally:
        for store in opened:
            await store.close()


def event(stream: str, n: int = 0) -> NewEvent:
    return NewEvent(stream, "lead:updated", {"n": n, "changes": {}}, "u-1", "lead")


async def test_committed_events_wait_in_the_outbox_until_taken(
    stores: list[RecordStore], clock: FakeClock
) -> None:
    """Every event a node commits is in the outbox; a take returns the overdue ones in
    (stream, seq) order, once, and `stored_before` leaves the recent ones alone."""
    store = stores[0]
    async with store.transaction() as uow:
        first = [await uow.append_event(event(s, n)) for n, s in enumerate(["team:b", "team:a"])]
    clock.value += 5
    async with store.transaction() as uow:
        later = await uow.append_event(event("team:a", 2))
    async with store.transaction() as uow:
        assert await uow.take_outbox(clock.value - 1, 100) == sorted(
            first, key=lambda e: (e.stream, e.seq)
        )
    async with store.transaction() as uow:
        assert await uow.take_outbox(clock.value - 1, 100) == [], "taken once"
        assert await uow.take_outbox(clock.value + 1, 100) == [later]


async def test_a_take_that_rolls_back_leaves_the_entries(stores: list[RecordStore]) -> None:
    """A relay that dies mid-way (its transaction rolls back) leaves everything it took for
    the next one; `limit` takes the first entries by (stream, seq)."""
    store = stores[0]
    async with store.transaction() as uow:
        stored = [await uow.append_event(event("team:a", n)) for n in range(3)]
    with pytest.raises(Boom):
        async with store.transaction() as uow:
            assert await uow.take_outbox(float("inf"), 2) == stored[:2]
            raise Boom
    async with store.transaction() as uow:
        assert await uow.take_outbox(float("inf"), 100) == stored


async def test_forgotten_entries_are_never_taken(stores: list[RecordStore]) -> None:
    """The committing node settled these: they leave the outbox; unknown keys are no error;
    a rolled-back change leaves no entry."""
    store = stores[0]
    async with store.transaction() as uow:
        stored = [await uow.append_event(event(f"team:{n % 2}", n)) for n in range(4)]
    with pytest.raises(Boom):
        async with store.transaction() as uow:
            await uow.append_event(event("team:rolled-back"))
            raise Boom
    await store.forget_outbox([(e.stream, e.seq) for e in stored[1:3]] + [("team:x", 9)])
    await store.forget_outbox([])
    async with store.transaction() as uow:
        assert await uow.take_outbox(float("inf"), 100) == [stored[0], stored[3]]


async def test_a_store_without_an_outbox_node_keeps_none(stores: list[RecordStore]) -> None:
    """One node (no outbox node): events are stored as always and nothing waits in an outbox."""
    single = stores[1]
    async with single.transaction() as uow:
        stored = await uow.append_event(event("team:a"))
    assert await single.read_stream("team:a", 0) == [stored]
    async with single.transaction() as uow:
        assert await uow.take_outbox(float("inf"), 100) == []


@pytest.mark.cluster
@pytest.mark.parametrize("store_url", ["postgres"], indirect=True)
async def test_concurrent_takers_never_take_the_same_entry(stores: list[RecordStore]) -> None:
    """PostgreSQL, two relays at once (a lease hand-over): the second waits on the first's
    row locks and then finds those entries gone."""
    store = stores[0]
    async with store.transaction() as uow:
        stored = [await uow.append_event(event("team:a", n)) for n in range(3)]
    first_took = asyncio.Event()
    release_first = asyncio.Event()

    async def first() -> list[object]:
        async with store.transaction() as uow:
            taken = await uow.take_outbox(float("inf"), 2)
            first_took.set()
            await release_first.wait()
        return list(taken)

    async def second() -> list[object]:
        await first_took.wait()
        async with store.transaction() as uow:
            return list(await uow.take_outbox(float("inf"), 100))

    one = asyncio.create_task(first())
    two = asyncio.create_task(second())
    await first_took.wait()
    await asyncio.sleep(0.2)
    assert not two.done(), "the second taker waits for the first one's row locks"
    release_first.set()
    assert await one == stored[:2]
    assert await two == stored[2:]
