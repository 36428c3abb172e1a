"""Redis-only behaviour of `RedisClusterState`: several nodes, dead nodes, lost data, outages.

LIM-3 and COL-1 across nodes (CLU-1); entries of a crashed node stop counting (CLU-2);
INF-3 a node without its backend reports it quickly instead of hanging.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import redis.asyncio as aioredis
from cluster_faults import TcpProxy

from reference_server.state.base import Viewer
from reference_server.state.reaping import ReapedNode
from reference_server.state.redis import (
    ClusterStateUnavailable,
    RedisClusterState,
    RedisTimeouts,
)
from tests.services import RedisNamespace

pytestmark = pytest.mark.cluster  # PostgreSQL and/or Redis

FAST = RedisTimeouts(heartbeat_seconds=0.1, node_ttl_seconds=0.4)


@pytest.fixture
async def nodes(redis_namespace: RedisNamespace) -> AsyncIterator[list[RedisClusterState]]:
    states: list[RedisClusterState] = []
    yield states
    for state in states:
        await state.close()


async def _node(
    ns: RedisNamespace, nodes: list[RedisClusterState], node_id: str
) -> RedisClusterState:
    state = RedisClusterState(ns.url, prefix=ns.prefix, node_id=node_id, timeouts=FAST)
    await state.open()
    nodes.append(state)
    return state


async def _wait_for(condition: Callable[[], Awaitable[bool]], within: float = 3.0) -> None:
    deadline = time.monotonic() + within
    while not await condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def test_nodes_share_counts_presence_viewers_and_locks(
    redis_namespace: RedisNamespace, nodes: list[RedisClusterState]
) -> None:
    """CLU-1, LIM-3, COL-2, COL-3, COL-4: what one node writes, every node sees."""
    one = await _node(redis_namespace, nodes, "node-1")
    two = await _node(redis_namespace, nodes, "node-2")
    assert await one.add_connection("u1", "a", 2) == 1
    assert await two.add_connection("u1", "b", 2) == 2
    assert await one.add_connection("u1", "c", 2) is None
    assert await two.online_users() == {"u1": 2}
    await one.add_viewer("escrow:e1", "a", Viewer("u1", "Ann"))
    assert await two.add_viewer("escrow:e1", "x", Viewer("u2", "Bob")) == [
        Viewer("u1", "Ann"),
        Viewer("u2", "Bob"),
    ]
    taken, _ = await one.acquire_lock("escrow:e1", "u1", "Ann", 30)
    assert taken
    taken, holder = await two.acquire_lock("escrow:e1", "u2", "Bob", 30)
    assert not taken and holder.user_id == "u1"
    assert await two.remove_connection("u1", "b") == 1
    assert await one.add_connection("u1", "c", 2) == 2


async def test_dead_node_entries_stop_counting(
    redis_namespace: RedisNamespace, nodes: list[RedisClusterState]
) -> None:
    """LIM-3, CLU-2, COL-1, COL-3: a node that dies without cleaning up frees its users' slots
    by itself, and exactly one surviving node is told what it left, to announce it."""
    survivor = await _node(redis_namespace, nodes, "node-1")
    other_survivor = await _node(redis_namespace, nodes, "node-3")
    heard: list[tuple[str, ReapedNode]] = []
    for state in (survivor, other_survivor):

        async def listen(reaped: ReapedNode, by: str = state.node_id) -> None:
            heard.append((by, reaped))

        state.reap_listeners.append(listen)
    doomed = await _node(redis_namespace, nodes, "node-2")
    await doomed.add_connection("u1", "a", 1)
    await doomed.add_connection("u2", "c", 5)
    await survivor.add_connection("u2", "d", 5)
    await doomed.add_viewer("listing:l1", "a", Viewer("u1", "Ann"))
    assert await survivor.add_connection("u1", "b", 1) is None
    # A crash: the heartbeat stops, nothing is cleaned up.
    assert doomed._heartbeat is not None
    doomed._heartbeat.cancel()

    async def freed() -> bool:
        return await survivor.connection_count("u1") == 0

    await _wait_for(freed)
    assert await survivor.viewers("listing:l1") == []
    assert await survivor.online_users() == {"u2": 1}
    assert await survivor.add_connection("u1", "b", 1) == 1
    await asyncio.sleep(0.3)  # both survivors' heartbeats have run again meanwhile
    assert len(heard) == 1, heard
    reaped = heard[0][1]
    assert reaped.node_id == "node-2"
    assert sorted(reaped.connections) == [("u1", "a"), ("u2", "c")]
    assert reaped.offline_users == ("u1",), "u2 still has a socket on node-1"
    assert reaped.viewers == (("listing:l1", "a", Viewer("u1", "Ann")),)


async def test_restarted_node_drops_its_previous_entries(
    redis_namespace: RedisNamespace, nodes: list[RedisClusterState]
) -> None:
    """LIM-3, CLU-2: a node restarted under the same name starts owning nothing."""
    first_run = RedisClusterState(
        redis_namespace.url, prefix=redis_namespace.prefix, node_id="node-1"
    )
    await first_run.open()
    await first_run.add_connection("u1", "a", 5)
    await first_run.add_viewer("lead:l1", "a", Viewer("u1", "Ann"))
    assert first_run._heartbeat is not None
    first_run._heartbeat.cancel()  # killed: no close()
    second_run = await _node(redis_namespace, nodes, "node-1")
    assert await second_run.connection_count("u1") == 0
    assert await second_run.viewers("lead:l1") == []
    await first_run.redis.aclose()


async def test_node_reregisters_after_redis_lost_its_data(
    redis_namespace: RedisNamespace, nodes: list[RedisClusterState]
) -> None:
    """LIM-3, COL-3: Redis restarted empty; live sockets are counted again without a manual step."""
    node = await _node(redis_namespace, nodes, "node-1")
    await node.add_connection("u1", "a", 5)
    await node.add_viewer("client:c1", "a", Viewer("u1", "Ann"))
    raw = aioredis.Redis.from_url(redis_namespace.url)
    try:
        keys = [k async for k in raw.scan_iter(match=f"{redis_namespace.prefix}*")]
        await raw.delete(*keys)
    finally:
        await raw.aclose()
    assert await node.connection_count("u1") == 0

    async def back() -> bool:
        return await node.connection_count("u1") == 1

    await _wait_for(back)
    assert await node.viewers("client:c1") == [Viewer("u1", "Ann")]
    assert await node.online_users() == {"u1": 1}
    # Re-registered entries leave as cleanly as first-time ones: nothing stays owned.
    await node.remove_viewer("client:c1", "a")
    assert await node.remove_connection("u1", "a") == 0
    assert await node.redis.smembers(node.keys.owned("node-1")) == set()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_unreachable_redis_fails_fast_and_clearly() -> None:
    """INF-3: no Redis → opening fails with a clear error within seconds, not a hang."""
    state = RedisClusterState(
        f"redis://127.0.0.1:{_closed_port()}/0", prefix="crmtest:none:", timeouts=FAST
    )
    started = time.monotonic()
    with pytest.raises(ClusterStateUnavailable, match=r"Redis\) unavailable"):
        await state.open()
    assert time.monotonic() - started < 5
    assert await state.ping() is False
    with pytest.raises(ClusterStateUnavailable):
        await state.add_connection("u1", "a", 5)
    await state.close()


async def test_partitioned_redis_refused_quickly_then_recovers(
    redis_namespace: RedisNamespace,
) -> None:
    """INF-3, CLU-1: Redis black-holed behind a proxy → errors within the timeouts, not a hang;
    traffic restored → the same node works again by itself."""
    host_port = redis_namespace.url.split("//", 1)[1].split("/", 1)[0]
    host, port = host_port.rsplit(":", 1)
    with TcpProxy(host, int(port)) as proxy:
        url = f"redis://127.0.0.1:{proxy.port}/0"
        quick = RedisTimeouts(connect_seconds=0.5, command_seconds=0.5)
        state = RedisClusterState(url, prefix=redis_namespace.prefix, timeouts=quick)
        await state.open()
        try:
            assert await state.add_connection("u1", "a", 5) == 1
            proxy.cut()
            started = time.monotonic()
            assert await state.ping() is False
            with pytest.raises(ClusterStateUnavailable):
                await state.add_connection("u1", "b", 5)
            assert time.monotonic() - started < 5
            proxy.restore()

            async def healthy() -> bool:
                return await state.ping()

            await _wait_for(healthy, within=5)
            assert await state.add_connection("u1", "b", 5) == 2
        finally:
            await state.close()
