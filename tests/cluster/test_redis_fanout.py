"""Fan-out through Redis between two bare Socket.IO nodes (no domain): RED-3, EVT-2, CLU-1.

Each node is an `AsyncServer` with `RedisFanoutManager` on its own aiohttp port; sockets of
one room sit on both nodes and a socket sits in two addressed rooms at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

import pytest
import socketio
from aiohttp import web
from cluster_faults import TcpProxy

from reference_server.realtime.fanout import variants_marker
from reference_server.realtime.redis_fanout import (
    RedisFanoutManager,
    fanout_channel,
    start_listening,
)
from tests.services import RedisNamespace

pytestmark = pytest.mark.cluster  # PostgreSQL and/or Redis


@dataclass
class BareNode:
    sio: socketio.AsyncServer
    manager: RedisFanoutManager
    url: str


@dataclass
class Inbox:
    received: list[Any] = field(default_factory=list)


async def _start_node(
    stack: AsyncExitStack, ns: RedisNamespace, redis_url: str | None = None
) -> BareNode:
    manager = RedisFanoutManager(
        redis_url or ns.url, prefix=ns.prefix, probe_seconds=0.2, dead_after_seconds=0.8
    )
    sio = socketio.AsyncServer(async_mode="aiohttp", client_manager=manager)

    @sio.event
    async def connect(sid: str, environ: dict[str, Any], auth: dict[str, Any]) -> None:
        manager.bind_user(sid, auth["user"])
        for room in auth["rooms"]:
            await sio.enter_room(sid, room)

    app = web.Application()
    sio.attach(app)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    stack.push_async_callback(runner.cleanup)
    assert await start_listening(sio)
    stack.push_async_callback(_stop_listener, manager)
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return BareNode(sio, manager, f"http://127.0.0.1:{port}")


async def _stop_listener(manager: RedisFanoutManager) -> None:
    listener: asyncio.Task[None] = manager.thread
    # Re-cancel until done: a cancel landing as a Redis reply arrives can be swallowed (the
    # library's listener loop then carries on, and one cancel would wait forever).
    while not listener.done():
        listener.cancel()
        await asyncio.wait({listener}, timeout=0.5)


async def _client(stack: AsyncExitStack, node: BareNode, user: str, rooms: list[str]) -> Inbox:
    inbox = Inbox()
    client = socketio.AsyncClient()
    client.on("escrow:updated", lambda data: inbox.received.append(data))
    await client.connect(node.url, auth={"user": user, "rooms": rooms}, transports=["websocket"])
    stack.push_async_callback(client.disconnect)
    return inbox


@pytest.fixture
async def stack() -> AsyncIterator[AsyncExitStack]:
    async with AsyncExitStack() as exit_stack:
        yield exit_stack


async def test_redaction_and_exactly_once_across_nodes(
    redis_namespace: RedisNamespace, stack: AsyncExitStack
) -> None:
    """RED-3, EVT-2, CLU-1: one emit on node A reaches sockets on A and B once each, the
    owner's unredacted and everyone else's redacted, with the same eventId."""
    node_a = await _start_node(stack, redis_namespace)
    node_b = await _start_node(stack, redis_namespace)
    owner_on_b = await _client(stack, node_b, "owner", ["team:t1"])
    owner_on_a = await _client(stack, node_a, "owner", ["team:t1"])
    mate_on_b = await _client(stack, node_b, "mate", ["team:t1", "broker:b1"])  # two rooms
    outsider = await _client(stack, node_b, "outsider", ["team:t2"])
    true_values = {"eventId": "e-1", "seq": 7, "changes": {"myCommission": 1200}}
    redacted = {"eventId": "e-1", "seq": 7, "changes": {"myCommission": "[REDACTED]"}}
    marker = variants_marker("owner", true_values, redacted)
    await node_a.sio.emit("escrow:updated", marker, room=["team:t1", "broker:b1"])
    await asyncio.sleep(0.5)
    assert owner_on_a.received == [true_values]
    assert owner_on_b.received == [true_values]
    assert mate_on_b.received == [redacted]
    assert outsider.received == []
    assert node_b.manager.stats.remote_messages >= 1
    assert node_a.manager.stats.published >= 1


async def test_clusters_sharing_redis_do_not_hear_each_other(
    redis_namespace: RedisNamespace, stack: AsyncExitStack
) -> None:
    """CLU-1: the channel carries the cluster prefix; another cluster's emits never arrive."""
    mine = await _start_node(stack, redis_namespace)
    other_ns = RedisNamespace(redis_namespace.url, f"{redis_namespace.prefix}other:")
    theirs = await _start_node(stack, other_ns)
    assert fanout_channel(redis_namespace.prefix) != fanout_channel(other_ns.prefix)
    inbox = await _client(stack, mine, "u1", ["team:t1"])
    await theirs.sio.emit("escrow:updated", {"eventId": "foreign"}, room="team:t1")
    await mine.sio.emit("escrow:updated", {"eventId": "own"}, room="team:t1")
    await asyncio.sleep(0.4)
    assert inbox.received == [{"eventId": "own"}]


async def test_silently_dead_subscription_is_redialled(
    redis_namespace: RedisNamespace, stack: AsyncExitStack
) -> None:
    """CLU-1: a node whose pub/sub connection goes silent without being closed notices by its
    own probes, dials again and hears the other nodes again — no restart, no manual step."""
    host, _, port = redis_namespace.url.split("//", 1)[1].split("/", 1)[0].rpartition(":")
    proxy = TcpProxy(host, int(port))
    stack.enter_context(proxy)
    sender = await _start_node(stack, redis_namespace)
    listener = await _start_node(stack, redis_namespace, f"redis://127.0.0.1:{proxy.port}/0")
    inbox = await _client(stack, listener, "u1", ["team:t1"])
    await sender.sio.emit("escrow:updated", {"eventId": "before"}, room="team:t1")
    await asyncio.sleep(0.3)
    assert inbox.received == [{"eventId": "before"}]
    proxy.strand()
    await asyncio.sleep(0.1)
    await sender.sio.emit("escrow:updated", {"eventId": "stranded"}, room="team:t1")
    await asyncio.sleep(0.3)
    assert inbox.received == [{"eventId": "before"}], "the stranded connection still delivered"
    deadline = time.monotonic() + 6
    n = 0
    while not any(e.get("eventId", "").startswith("after") for e in inbox.received):
        assert time.monotonic() < deadline, "the listener never dialled again"
        n += 1
        await sender.sio.emit("escrow:updated", {"eventId": f"after-{n}"}, room="team:t1")
        await asyncio.sleep(0.3)


async def test_an_event_is_published_once_whoever_tries(
    redis_namespace: RedisNamespace, stack: AsyncExitStack
) -> None:
    """EVT-2, CLU-1: the node that committed an event and another node's outbox relay may both
    try to publish it; with the event's once key only the first try is sent, and it reaches
    the sockets of both nodes (the winner's own included) exactly once. The record of it is what
    gates: forgotten (or trimmed by age), the key could be published again."""
    node_a = await _start_node(stack, redis_namespace)
    node_b = await _start_node(stack, redis_namespace)
    on_a = await _client(stack, node_a, "u1", ["team:t1"])
    on_b = await _client(stack, node_b, "u2", ["team:t1"])
    payload = {"eventId": "e-1", "stream": "team:t1", "seq": 1}
    tries = [
        node_a.manager.publish_event("escrow:updated", payload, "team:t1", "e-1"),
        node_b.manager.publish_event("escrow:updated", payload, "team:t1", "e-1"),
        node_b.manager.publish_event("escrow:updated", payload, "team:t1", "e-1"),
    ]
    assert sorted(await asyncio.gather(*tries)) == [False, False, True]
    await asyncio.sleep(0.4)
    assert on_a.received == [payload] and on_b.received == [payload]
    assert node_a.manager.stats.published_already + node_b.manager.stats.published_already == 2

    await node_a.manager.trim_published(time.time() - 60)  # recent: kept
    assert not await node_b.manager.publish_event("escrow:updated", payload, "team:t1", "e-1")
    await node_a.manager.forget_published(["e-1"])
    assert await node_b.manager.publish_event("escrow:updated", payload, "team:t1", "e-1")
    await node_a.manager.trim_published(time.time() + 1)
    assert await node_a.manager.publish_event("escrow:updated", payload, "team:t1", "e-1")
    await asyncio.sleep(0.4)
    assert len(on_a.received) == len(on_b.received) == 3


async def test_a_failed_publish_does_not_deafen_the_node(
    redis_namespace: RedisNamespace, stack: AsyncExitStack
) -> None:
    """CLU-1: after a failed publish the node dials Redis again for publishing; its listener
    keeps its subscription and hears the other nodes at once (it used to be handed an
    unsubscribed connection and stay deaf until its probes noticed the silence)."""
    sender = await _start_node(stack, redis_namespace)
    listener = await _start_node(stack, redis_namespace)
    listener.manager.dead_after_seconds = 60.0  # its probes must not be what saves it
    inbox = await _client(stack, listener, "u1", ["team:t1"])
    listener.manager.connected = False  # as a failed publish leaves it
    await listener.sio.emit("escrow:updated", {"eventId": "own"}, room="team:t2")
    await sender.sio.emit("escrow:updated", {"eventId": "after"}, room="team:t1")
    await asyncio.sleep(0.5)
    assert inbox.received == [{"eventId": "after"}]
