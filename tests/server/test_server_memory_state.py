"""MemoryClusterState: the whole ClusterState Protocol on one node (LIM-3, COL-1..4 seams)."""

from __future__ import annotations

from reference_server.state.base import ClusterState, Viewer
from reference_server.state.memory import MemoryClusterState


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_connection_limit_and_counts() -> None:
    """LIM-3: at most `limit` sockets per user; closing one frees a slot."""
    state: ClusterState = MemoryClusterState()
    await state.open()
    assert await state.ping()
    assert [await state.add_connection("u1", f"s{i}", 2) for i in range(3)] == [1, 2, None]
    assert await state.add_connection("u1", "s1", 2) == 2  # re-adding a known sid is no new slot
    assert await state.connection_count("u1") == 2
    assert await state.online_users() == {"u1": 2}
    assert await state.remove_connection("u1", "s0") == 1
    assert await state.add_connection("u1", "s2", 2) == 2
    assert await state.remove_connection("u1", "s1") == 1
    assert await state.remove_connection("u1", "s2") == 0
    assert await state.online_users() == {}
    assert await state.remove_connection("nobody", "x") == 0
    await state.close()
    assert not await state.ping()


async def test_online_users_filter() -> None:
    """COL-2 seam: online users restricted to the ids asked for."""
    state = MemoryClusterState()
    await state.add_connection("u1", "a", 5)
    await state.add_connection("u2", "b", 5)
    assert await state.online_users(["u2", "u3"]) == {"u2": 1}


async def test_viewers_are_distinct_users() -> None:
    """COL-3 seam: two sockets of one user are one viewer; leaving removes only that socket."""
    state = MemoryClusterState()
    ann, bob = Viewer("u1", "Ann"), Viewer("u2", "Bob")
    assert await state.add_viewer("escrow:e1", "s1", ann) == [ann]
    assert await state.add_viewer("escrow:e1", "s2", ann) == [ann]
    assert await state.add_viewer("escrow:e1", "s3", bob) == [ann, bob]
    assert await state.remove_viewer("escrow:e1", "s1") == [ann, bob]
    assert await state.remove_viewer("escrow:e1", "s2") == [bob]
    assert await state.viewers("escrow:e2") == []
    assert await state.remove_viewer("escrow:e1", "s3") == []


async def test_locks_take_refresh_refuse_expire_release() -> None:
    """COL-4 seam: a lock is the holder's until released or its TTL passes."""
    clock = FakeClock()
    state = MemoryClusterState(clock)
    taken, lock = await state.acquire_lock("escrow:e1", "u1", "Ann", 10)
    assert taken and lock.user_id == "u1" and lock.expires_at == 1010
    taken, held = await state.acquire_lock("escrow:e1", "u2", "Bob", 10)
    assert not taken and held.user_id == "u1"
    clock.now = 1005
    taken, refreshed = await state.acquire_lock("escrow:e1", "u1", "Ann", 10)
    assert taken and refreshed.expires_at == 1015
    assert not await state.release_lock("escrow:e1", "u2")
    clock.now = 1016
    assert await state.get_lock("escrow:e1") is None
    taken, lock = await state.acquire_lock("escrow:e1", "u2", "Bob", 10)
    assert taken and lock.user_id == "u2"
    assert await state.release_lock("escrow:e1", "u2")
    assert await state.get_lock("escrow:e1") is None
