"""The `ClusterState` contract, run against every backend: in-process memory and Redis.

LIM-3 connection limit, COL-1/COL-2 presence counts, COL-3 viewers, COL-4 edit locks.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import pytest

from reference_server.state.base import ClusterState, Viewer
from reference_server.state.memory import MemoryClusterState
from reference_server.state.redis import RedisClusterState

StateFactory = Callable[[str], ClusterState]  # node id → a state for that node


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.cluster)])
async def make_state(request: pytest.FixtureRequest) -> AsyncIterator[StateFactory]:
    """Builds opened states; with Redis each call is another node of one cluster."""
    opened: list[ClusterState] = []
    shared_memory = MemoryClusterState()

    def make(node_id: str) -> ClusterState:
        state: ClusterState
        if request.param == "memory":
            state = shared_memory  # one node: every "node" is the same process
        else:
            ns = request.getfixturevalue("redis_namespace")
            state = RedisClusterState(ns.url, prefix=ns.prefix, node_id=node_id)
        opened.append(state)
        return state

    yield make
    for state in opened:
        await state.close()


async def _open(make: StateFactory, node_id: str = "node-1") -> ClusterState:
    state = make(node_id)
    await state.open()
    return state


async def test_connection_limit_and_counts(make_state: StateFactory) -> None:
    """LIM-3: at most `limit` sockets per user; a closed one frees its slot at once."""
    state = await _open(make_state)
    assert [await state.add_connection("u1", f"s{i}", 3) for i in range(3)] == [1, 2, 3]
    assert await state.add_connection("u1", "s3", 3) is None
    assert await state.connection_count("u1") == 3
    assert await state.add_connection("u1", "s0", 3) == 3, "re-adding a known sid is no change"
    assert await state.add_connection("u2", "x0", 3) == 1, "limits are per user"
    assert await state.remove_connection("u1", "s1") == 2
    assert await state.add_connection("u1", "s3", 3) == 3
    assert await state.remove_connection("u1", "unknown") == 3


async def test_presence_counts(make_state: StateFactory) -> None:
    """COL-1, COL-2: online users are those with at least one socket, with their counts."""
    state = await _open(make_state)
    await state.add_connection("u1", "a", 5)
    await state.add_connection("u1", "b", 5)
    await state.add_connection("u2", "c", 5)
    assert await state.online_users() == {"u1": 2, "u2": 1}
    assert await state.online_users(["u2", "u3"]) == {"u2": 1}
    assert await state.remove_connection("u2", "c") == 0
    assert await state.online_users() == {"u1": 2}
    assert await state.remove_connection("u1", "a") == 1
    assert await state.remove_connection("u1", "b") == 0
    assert await state.online_users() == {}


async def test_viewers_are_distinct_users(make_state: StateFactory) -> None:
    """COL-3: the viewer list holds distinct users, whatever number of sockets each has."""
    state = await _open(make_state)
    ann, bob = Viewer("u-ann", "Ann"), Viewer("u-bob", "Bob")
    assert await state.add_viewer("escrow:e1", "s1", bob) == [bob]
    assert await state.add_viewer("escrow:e1", "s2", ann) == [ann, bob]
    assert await state.add_viewer("escrow:e1", "s3", bob) == [ann, bob]
    assert await state.add_viewer("escrow:e2", "s1", bob) == [bob]
    assert await state.remove_viewer("escrow:e1", "s1") == [ann, bob]
    assert await state.remove_viewer("escrow:e1", "s3") == [ann]
    assert await state.viewers("escrow:e1") == [ann]
    assert await state.remove_viewer("escrow:e1", "missing") == [ann]
    assert await state.viewers("escrow:none") == []


async def test_edit_lock_take_refresh_refuse_release(make_state: StateFactory) -> None:
    """COL-4: a free lock is taken, the holder refreshes it, another user gets the holder."""
    state = await _open(make_state)
    before = time.time()
    taken, lock = await state.acquire_lock("escrow:e1", "u1", "Ann", 30)
    assert taken and lock.user_id == "u1" and lock.name == "Ann"
    assert before + 30 <= lock.expires_at <= time.time() + 30
    taken, holder = await state.acquire_lock("escrow:e1", "u2", "Bob", 30)
    assert not taken and holder == lock
    assert await state.release_lock("escrow:e1", "u2") is False, "only the holder releases"
    await asyncio.sleep(0.01)
    refreshed, again = await state.acquire_lock("escrow:e1", "u1", "Ann", 30)
    assert refreshed and again.expires_at > lock.expires_at
    assert await state.get_lock("escrow:e1") == again
    assert await state.release_lock("escrow:e1", "u1") is True
    assert await state.get_lock("escrow:e1") is None
    taken, lock = await state.acquire_lock("escrow:e1", "u2", "Bob", 30)
    assert taken and lock.user_id == "u2"


async def test_edit_lock_expires(make_state: StateFactory) -> None:
    """COL-4: a lock not refreshed within its TTL is gone and free for others."""
    state = await _open(make_state)
    await state.acquire_lock("lead:l1", "u1", "Ann", 0.2)
    assert await state.get_lock("lead:l1") is not None
    await asyncio.sleep(0.35)
    assert await state.get_lock("lead:l1") is None
    taken, lock = await state.acquire_lock("lead:l1", "u2", "Bob", 5)
    assert taken and lock.user_id == "u2"


async def test_lease_held_by_one_node_at_a_time(make_state: StateFactory) -> None:
    """One node at a time holds a lease (the outbox relay): the holder renews it, the others
    are refused until it is released or lapses. In memory there is one node, which holds it."""
    nodes = [await _open(make_state, f"node-{i}") for i in (1, 2, 3)]
    if len({id(node) for node in nodes}) == 1:
        assert await nodes[0].hold_lease("relay", 0.2) is True
        await nodes[0].release_lease("relay")
        return
    held = await asyncio.gather(*(node.hold_lease("relay", 0.3) for node in nodes))
    assert sorted(held) == [False, False, True], "exactly one node takes it"
    holder = nodes[held.index(True)]
    others = [node for node in nodes if node is not holder]
    assert await holder.hold_lease("relay", 0.3) is True, "the holder renews it"
    assert await others[0].hold_lease("other-chore", 5) is True, "leases are per name"
    await others[0].release_lease("relay")  # not the holder's: nothing happens
    assert await others[0].hold_lease("relay", 5) is False
    await holder.release_lease("relay")
    assert await others[0].hold_lease("relay", 0.2) is True, "released: free at once"
    await asyncio.sleep(0.35)
    assert await others[1].hold_lease("relay", 5) is True, "not renewed: lapsed"


async def test_concurrent_admission_never_exceeds_limit(make_state: StateFactory) -> None:
    """LIM-3, CLU-1: many sockets of one user racing in through three nodes; `limit` win."""
    nodes = [await _open(make_state, f"node-{i}") for i in (1, 2, 3)]
    attempts = [nodes[i % 3].add_connection("u1", f"sid-{i}", 5) for i in range(30)]
    results = await asyncio.gather(*attempts)
    admitted = [r for r in results if r is not None]
    assert len(admitted) == 5
    assert sorted(admitted) == [1, 2, 3, 4, 5]
    assert await nodes[2].connection_count("u1") == 5
