"""PostgreSQL as a cluster store: two pools act as two nodes on one database (CLU-1)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from reference_server.store import IdempotencyEntry, NewEvent, StoreUnavailable, open_store
from reference_server.store.postgres import PING_TIMEOUT_SECONDS, PostgresRecordStore
from tests.cluster.cluster_faults import TcpProxy

pytestmark = pytest.mark.cluster  # PostgreSQL and/or Redis

NODES = 2
EVENTS_PER_NODE = 25


@pytest.fixture
async def two_nodes(postgres_url: str) -> AsyncIterator[tuple[PostgresRecordStore, ...]]:
    nodes = tuple(PostgresRecordStore(postgres_url, max_connections=4) for _ in range(NODES))
    await asyncio.gather(*(node.open() for node in nodes))  # concurrent schema creation is safe
    try:
        yield nodes
    finally:
        await asyncio.gather(*(node.close() for node in nodes))


async def _append(node: PostgresRecordStore, stream: str, n: int) -> int:
    async with node.transaction() as uow:
        return (await uow.append_event(NewEvent(stream, "lead:updated", {"n": n}))).seq


async def test_two_nodes_append_to_one_stream_without_gaps(
    two_nodes: tuple[PostgresRecordStore, ...],
) -> None:
    """STR-1, CLU-1: concurrent writers on two nodes give seq 1..N, no gap, no duplicate."""
    jobs = [
        _append(node, "team:shared", i * NODES + k)
        for i in range(EVENTS_PER_NODE)
        for k, node in enumerate(two_nodes)
    ]
    seqs = await asyncio.gather(*jobs)
    total = NODES * EVENTS_PER_NODE
    assert sorted(seqs) == list(range(1, total + 1))
    stored = await two_nodes[1].read_stream("team:shared", 0)
    assert [e.seq for e in stored] == list(range(1, total + 1))
    assert sorted(e.payload["n"] for e in stored) == list(range(total))


async def _hold_key_then(
    node: PostgresRecordStore, claimed: asyncio.Event, finish: asyncio.Event, *, commit: bool
) -> None:
    class Abandon(Exception):
        pass

    try:
        async with node.transaction() as uow:
            assert await uow.claim_idempotency_key("u-1", "key") is None
            await uow.remember_idempotency_key(
                "u-1", "key", IdempotencyEntry("fp", 201, {"id": "r"}, time.time())
            )
            claimed.set()
            await finish.wait()
            if not commit:
                raise Abandon
    except Abandon:
        pass


@pytest.mark.parametrize("first_commits", [True, False])
async def test_a_claimed_key_makes_the_other_node_wait(
    two_nodes: tuple[PostgresRecordStore, ...], first_commits: bool
) -> None:
    """MUT-2, CLU-1: a concurrent claim of one key waits for the holder; sees its result if it
    committed, and gets the key itself if the holder rolled back (refusals don't use keys)."""
    claimed, finish = asyncio.Event(), asyncio.Event()
    holder = asyncio.create_task(
        _hold_key_then(two_nodes[0], claimed, finish, commit=first_commits)
    )
    await claimed.wait()

    async def claim_on_second_node() -> IdempotencyEntry | None:
        async with two_nodes[1].transaction() as uow:
            return await uow.claim_idempotency_key("u-1", "key")

    waiter = asyncio.create_task(claim_on_second_node())
    await asyncio.sleep(0.3)
    assert not waiter.done(), "the second claim must wait for the first transaction"
    finish.set()
    await holder
    seen = await asyncio.wait_for(waiter, timeout=5)
    if first_commits:
        assert seen is not None and seen.fingerprint == "fp" and seen.status == 201
    else:
        assert seen is None


async def test_schema_parameter_isolates_stores(postgres_url: str) -> None:
    """CLU-1: `?schema=` puts a store's tables in its own schema of the same database."""
    one = open_store(f"{postgres_url}?schema=node_a")
    other = open_store(f"{postgres_url}?schema=node_b")
    await one.open()
    await other.open()
    try:
        async with one.transaction() as uow:
            await uow.append_event(NewEvent("team:t", "lead:created", {}))
        assert await one.stream_heads(["team:t"]) == {"team:t": 1}
        assert await other.stream_heads(["team:t"]) == {"team:t": 0}
    finally:
        await one.close()
        await other.close()


async def test_unreachable_server_fails_fast() -> None:
    """INF-3: no PostgreSQL at the address → StoreUnavailable within seconds, no hang."""
    store = open_store("postgresql://postgres@127.0.0.1:1/postgres")
    started = time.monotonic()
    with pytest.raises(StoreUnavailable):
        await store.open()
    assert time.monotonic() - started < 10
    assert not await store.ping()
    with pytest.raises(StoreUnavailable):
        async with store.transaction():
            pass


async def test_store_recovers_after_its_connections_are_killed(postgres_url: str) -> None:
    """INF-3, CLU-2: severed connections surface as StoreUnavailable (or succeed on a fresh
    connection), never hang, and the store serves again without a restart."""
    store = PostgresRecordStore(postgres_url, max_connections=2)
    await store.open()
    try:
        async with store.transaction() as uow:
            await uow.append_event(NewEvent("team:t", "lead:created", {}))
        admin = await asyncpg.connect(postgres_url)
        try:
            killed = await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        finally:
            await admin.close()
        assert killed >= 1
        outcomes: list[dict[str, int] | None] = []
        for _ in range(3):
            try:
                outcomes.append(await asyncio.wait_for(store.stream_heads(["team:t"]), 10))
            except StoreUnavailable:
                outcomes.append(None)
        assert outcomes[-1] == {"team:t": 1}
        async with store.transaction() as uow:
            assert (await uow.append_event(NewEvent("team:t", "lead:created", {}))).seq == 2
    finally:
        await store.close()


async def test_partition_is_reported_within_bounds_and_heals(postgres_url: str) -> None:
    """INF-3: with PostgreSQL partitioned away (bytes vanish, nothing errors) `ping` says
    False within its own bound, a change fails with StoreUnavailable instead of hanging, and
    the store serves again once the network heals."""
    parts = urlsplit(postgres_url)
    with TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432) as proxy:
        via_proxy = urlunsplit(parts._replace(netloc=f"postgres@127.0.0.1:{proxy.port}"))
        store = PostgresRecordStore(via_proxy, command_timeout=1.0)
        await store.open()
        try:
            assert await store.ping()
            proxy.cut()
            started = time.monotonic()
            assert not await store.ping()
            assert time.monotonic() - started < PING_TIMEOUT_SECONDS + 2
            started = time.monotonic()
            with pytest.raises(StoreUnavailable):
                async with store.transaction() as uow:
                    await uow.append_event(NewEvent("team:t", "lead:created", {}))
            assert time.monotonic() - started < 12  # timeouts: command, release, connect
            proxy.restore()
            healed = [await store.ping() for _ in range(3)]
            assert healed[-1]
            async with store.transaction() as uow:
                assert (await uow.append_event(NewEvent("team:t", "lead:created", {}))).seq == 1
        finally:
            await asyncio.wait_for(store.close(), 15)
