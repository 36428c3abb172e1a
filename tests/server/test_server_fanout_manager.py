"""RedactingManager on one node, no domain: RED-3 variant choice per socket user, EVT-2 once
per socket across several addressed rooms, plain payloads untouched."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import pytest
import socketio
from e2e_clients import serve_on_aiohttp

from reference_server.realtime.fanout import RedactingManager, SocketPublisher, variants_marker
from reference_server.store.base import StoredEvent


async def _node(stack: AsyncExitStack) -> tuple[socketio.AsyncServer, RedactingManager, str]:
    manager = RedactingManager()
    sio = socketio.AsyncServer(async_mode="aiohttp", client_manager=manager)

    async def connect(sid: str, environ: dict[str, Any], auth: dict[str, Any]) -> None:
        manager.bind_user(sid, auth["user"])
        for room in auth["rooms"]:
            await sio.enter_room(sid, room)

    sio.on("connect", connect)
    port = await serve_on_aiohttp(stack, sio)
    return sio, manager, f"http://127.0.0.1:{port}"


async def _client(stack: AsyncExitStack, url: str, user: str, rooms: list[str]) -> list[Any]:
    inbox: list[Any] = []
    client = socketio.AsyncClient(reconnection=False)
    client.on("escrow:updated", inbox.append)
    await client.connect(url, auth={"user": user, "rooms": rooms}, transports=["websocket"])
    stack.push_async_callback(client.disconnect)
    return inbox


@pytest.fixture
async def stack() -> AsyncIterator[AsyncExitStack]:
    async with AsyncExitStack() as exit_stack:
        yield exit_stack


async def test_variants_per_user_once_per_socket(stack: AsyncExitStack) -> None:
    """RED-3, EVT-2: owner gets the true copy, others the redacted one, each socket once even
    when it is in both addressed rooms; sockets outside them get nothing."""
    sio, _, url = await _node(stack)
    owner = await _client(stack, url, "owner", ["team:t1"])
    mate = await _client(stack, url, "mate", ["team:t1", "broker:b1"])
    outsider = await _client(stack, url, "outsider", ["team:t2"])
    true_copy = {"eventId": "e1", "changes": {"myCommission": 5}}
    redacted = {"eventId": "e1", "changes": {"myCommission": "[REDACTED]"}}
    await sio.emit("escrow:updated", variants_marker("owner", true_copy, redacted),
                   room=["team:t1", "broker:b1"])  # fmt: skip
    await sio.emit("escrow:updated", {"eventId": "plain"}, room="team:t2")
    await asyncio.sleep(0.3)
    assert owner == [true_copy]
    assert mate == [redacted]
    assert outsider == [{"eventId": "plain"}]


async def test_publisher_sends_one_payload_when_nothing_is_sensitive(
    stack: AsyncExitStack,
) -> None:
    """RED-3, MET-1: no variants marker when both copies are equal; one on_emit per event."""
    sio, _, url = await _node(stack)
    inbox = await _client(stack, url, "u1", ["team:t1"])
    emitted: list[str] = []
    event = StoredEvent("e9", "team:t1", 1, "escrow:updated", {"changes": {"status": "open"}},
                        "u2", "escrow", "2026-11-26T12:00:00.000Z", 0.0)  # fmt: skip
    publisher = SocketPublisher(sio, lambda e: (e.wire(), None), on_emit=emitted.append)
    assert publisher.payload_for_room(event) == event.wire()
    await publisher.publish([event])
    await asyncio.sleep(0.2)
    assert inbox == [event.wire()] and emitted == ["escrow:updated"]


async def test_room_index_follows_connects_and_disconnects(stack: AsyncExitStack) -> None:
    """EVT-1, EVT-2: the manager's reverse room index matches the library's rooms; after a
    disconnect nothing of the socket remains and the others still receive."""
    sio, manager, url = await _node(stack)
    stayer = await _client(stack, url, "u1", ["team:t1"])
    leaver = socketio.AsyncClient(reconnection=False)
    await leaver.connect(url, auth={"user": "u2", "rooms": ["team:t1", "broker:b1"]},
                         transports=["websocket"])  # fmt: skip
    await asyncio.sleep(0.1)
    leaver_sid = next(s for s, user in manager.socket_users.items() if user == "u2")
    assert sorted(manager.get_rooms(leaver_sid, "/")) == sorted(
        [leaver_sid, "team:t1", "broker:b1"]
    )
    await leaver.disconnect()
    await asyncio.sleep(0.2)
    assert all(leaver_sid not in room for room in manager.rooms.get("/", {}).values())
    assert "broker:b1" not in manager.rooms["/"]
    assert manager.get_rooms(leaver_sid, "/") == []
    await sio.emit("escrow:updated", {"eventId": "after"}, room="team:t1")
    await asyncio.sleep(0.2)
    assert stayer == [{"eventId": "after"}]


def _stored(seq: int, stream: str = "team:t1") -> StoredEvent:
    return StoredEvent(f"e{seq}", stream, seq, "escrow:updated", {"changes": {"myCommission": 5}},
                       "owner", "escrow", "2026-11-26T12:00:00.000Z", 0.0)  # fmt: skip


def _redacting(event: StoredEvent) -> tuple[dict[str, Any], dict[str, Any] | None]:
    return event.wire(), {**event.wire(), "changes": {"myCommission": "[REDACTED]"}}


async def test_no_live_copy_of_what_a_sync_covered(stack: AsyncExitStack) -> None:
    """STR-2, EVT-2: once a socket's sync covered a stream up to its head, a live copy of an
    event at or below that head (published late, e.g. recovered from a crashed node's outbox)
    is not sent to it: it holds the event already. Other sockets, later seqs and the replay
    itself (addressed to the socket) are unaffected; each stream has its own head."""
    sio, manager, url = await _node(stack)
    synced = await _client(stack, url, "mate", ["team:t1", "broker:b1"])
    other = await _client(stack, url, "owner", ["team:t1"])
    await asyncio.sleep(0.1)
    synced_sid = next(s for s, user in manager.socket_users.items() if user == "mate")
    publisher = SocketPublisher(sio, _redacting)
    manager.note_synced(synced_sid, {"team:t1": 5, "broker:b1": 9})
    manager.note_synced(synced_sid, {"team:t1": 3})  # an older head never lowers it
    await sio.emit("escrow:updated", _stored(4).wire(), to=synced_sid)  # a replay
    for seq in (4, 5, 6):
        await publisher.publish([_stored(seq)])
    await publisher.publish([_stored(8, "broker:b1"), _stored(10, "broker:b1")])
    await asyncio.sleep(0.3)
    assert [(e["stream"], e["seq"]) for e in synced] == [
        ("team:t1", 4),
        ("team:t1", 6),
        ("broker:b1", 10),
    ], "the replayed 4, then only what is above each stream's synced head"
    assert synced[1]["changes"] == {"myCommission": "[REDACTED]"}
    assert [e["seq"] for e in other] == [4, 5, 6]
    assert other[0]["changes"] == {"myCommission": 5}
