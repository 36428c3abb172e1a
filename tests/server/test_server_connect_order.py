"""EVT-1 ordering on connect: a socket gets no event before its CONNECT acknowledgement.

The connect handler joins the socket's rooms and may then await (in a cluster: Redis for the
connection count and presence) while other work broadcasts to those rooms. `RedactingManager`
holds such packets and releases them, in order, right after CONNECT. Observed on the raw
Engine.IO frames, since a Socket.IO client library may hide the misordering.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import aiohttp
import pytest
import socketio
from e2e_clients import serve_on_aiohttp

from harness.spec import SOCKETIO_PATH
from reference_server.realtime.fanout import RedactingManager

_ROOM = "team:t1"
_EVENT = "lead:updated"
_CONNECT, _EVENT_FRAME, _CONNECT_ERROR = "40", "42", "44"


class _SlowConnectNode:
    """A Socket.IO node whose connect handler parks after joining its room until released."""

    def __init__(self) -> None:
        self.manager = RedactingManager()
        self.sio = socketio.AsyncServer(async_mode="aiohttp", client_manager=self.manager)
        self.joined = asyncio.Event()
        self.release = asyncio.Event()
        self.refuse = False
        self.sio.on("connect", self._connect)

    async def _connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        await self.sio.enter_room(sid, _ROOM)
        self.manager.bind_user(sid, "u1")
        self.joined.set()
        await self.release.wait()  # e.g. the cluster state's Redis round trip
        if self.refuse:
            raise socketio.exceptions.ConnectionRefusedError("refused")

    async def serve(self, stack: AsyncExitStack) -> str:
        port = await serve_on_aiohttp(stack, self.sio, SOCKETIO_PATH.strip("/"))
        return f"ws://127.0.0.1:{port}{SOCKETIO_PATH}?EIO=4&transport=websocket"


@pytest.fixture
async def stack() -> AsyncIterator[AsyncExitStack]:
    async with AsyncExitStack() as exit_stack:
        yield exit_stack


async def _open_socket(stack: AsyncExitStack, url: str) -> aiohttp.ClientWebSocketResponse:
    session = await stack.enter_async_context(aiohttp.ClientSession())
    ws = await stack.enter_async_context(session.ws_connect(url))
    opened = await ws.receive_str(timeout=5)
    assert opened.startswith("0"), opened  # the Engine.IO open packet
    await ws.send_str("40" + json.dumps({"token": "unused"}))
    return ws


async def _socketio_frames(ws: aiohttp.ClientWebSocketResponse, count: int) -> list[str]:
    frames: list[str] = []
    while len(frames) < count:
        frame = await ws.receive_str(timeout=5)
        if frame != "2":  # Engine.IO pings are not Socket.IO frames
            frames.append(frame)
    return frames


async def test_broadcast_during_connect_arrives_after_connect_ack(stack: AsyncExitStack) -> None:
    """EVT-1: events broadcast to the socket's room while its connect handler still awaits
    reach it after the CONNECT packet, all of them, in the order they were emitted."""
    node = _SlowConnectNode()
    ws = await _open_socket(stack, await node.serve(stack))
    await asyncio.wait_for(node.joined.wait(), 5)
    for n in (1, 2):
        await node.sio.emit(_EVENT, {"n": n}, room=_ROOM)
    node.release.set()
    await asyncio.sleep(0.05)
    await node.sio.emit(_EVENT, {"n": 3}, room=_ROOM)

    frames = await _socketio_frames(ws, 4)

    assert [f[:2] for f in frames] == [_CONNECT, _EVENT_FRAME, _EVENT_FRAME, _EVENT_FRAME]
    assert [json.loads(f[2:])[1]["n"] for f in frames[1:]] == [1, 2, 3]
    assert not node.manager._held  # nothing left behind once connected


async def test_refused_connect_never_gets_the_held_events(stack: AsyncExitStack) -> None:
    """EVT-1, AUTH-1: a socket refused after joining rooms gets CONNECT_ERROR and none of the
    events broadcast meanwhile; nothing stays held for it."""
    node = _SlowConnectNode()
    node.refuse = True
    ws = await _open_socket(stack, await node.serve(stack))
    await asyncio.wait_for(node.joined.wait(), 5)
    await node.sio.emit(_EVENT, {"n": 1}, room=_ROOM)
    node.release.set()

    frames = await _socketio_frames(ws, 1)
    await asyncio.sleep(0.1)

    assert frames[0].startswith(_CONNECT_ERROR), frames
    assert not node.manager._held
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(_socketio_frames(ws, 1), 0.3)
