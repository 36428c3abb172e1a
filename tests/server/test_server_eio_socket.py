"""`realtime.eio_socket`: the WebSocket writer's wait without a timer per packet (issue 13).

Pins the seam (the library still creates its sockets as `AsyncSocket` and stores them in
`server.sockets`), the library code it stands in for, and what must not change: packets go
out in order, the end marker still ends the writer, long-polling keeps its timed wait.
TRN-3's silent client over WebSocket is checked end to end in test_server_transport.py.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
from collections.abc import AsyncIterator

import pytest
from e2e_clients import Target
from engineio import exceptions
from engineio import packet as eio_packet
from engineio.async_server import AsyncServer
from engineio.async_socket import AsyncSocket

from harness.client import Org
from harness.spec import ClientEvent
from reference_server.realtime.eio_socket import DirectWaitSocket
from reference_server.realtime.heartbeat import SweepingEngineServer

# sha256 of `inspect.getsource(AsyncSocket.poll)` in python-engineio 4.15.1. If it changes,
# re-read the library's poll and writer and check `DirectWaitSocket.poll` still matches them.
_LIBRARY_POLL_SHA256 = "826f58a9f3606db208e5d1266f075ad655b6eeda47b0a5616748624899ca5954"
_PING_INTERVAL_S = 1
_PING_TIMEOUT_S = 0.2


def test_library_poll_is_the_one_replaced() -> None:
    source = inspect.getsource(AsyncSocket.poll)
    assert hashlib.sha256(source.encode()).hexdigest() == _LIBRARY_POLL_SHA256, source


def test_library_builds_and_stores_sockets_where_the_seam_is() -> None:
    source = inspect.getsource(AsyncServer._handle_connect)
    built = source.index("s = async_socket.AsyncSocket(self, sid)")
    stored = source.index("self.sockets[sid] = s")
    assert built < stored < source.index("await s.send(")


@pytest.fixture
async def engine() -> AsyncIterator[SweepingEngineServer]:
    server = SweepingEngineServer(
        async_mode="asgi", ping_interval=_PING_INTERVAL_S, ping_timeout=_PING_TIMEOUT_S
    )
    server.start_service_task = False  # no sweep task: these tests drive the sockets
    yield server
    for sock in list(server.sockets.values()):
        await sock.close(wait=False, abort=True)
    _stop_pings()


async def _connected(server: SweepingEngineServer) -> AsyncSocket:
    environ = {"REQUEST_METHOD": "GET", "QUERY_STRING": "EIO=4&transport=polling"}
    await server._handle_connect(environ, "polling")
    (sock,) = server.sockets.values()
    _stop_pings()  # its heartbeat would time it out (nobody answers) and close it mid-test
    sock.last_ping = None
    return sock


def _stop_pings() -> None:
    for task in asyncio.all_tasks():  # the library's ping task (an asyncio.sleep first)
        if task is not asyncio.current_task() and "_send_ping" in repr(task):
            task.cancel()


async def test_library_sockets_become_direct_wait_sockets(
    engine: SweepingEngineServer,
) -> None:
    sock = await _connected(engine)
    assert type(sock) is DirectWaitSocket
    engine.sockets = {}  # the library's reassignment (after disconnecting everyone)
    assert type(await _connected(engine)) is DirectWaitSocket


async def test_websocket_poll_returns_queued_packets_in_order_and_ends_on_none(
    engine: SweepingEngineServer,
) -> None:
    sock = await _connected(engine)
    sock.upgraded = True
    sent = [eio_packet.Packet(eio_packet.MESSAGE, f"m{i}") for i in range(5)]
    for pkt in sent[:3]:
        await sock.send(pkt)
    assert await sock.poll() == sent[:3]
    waiting = asyncio.ensure_future(sock.poll())  # nothing queued: it waits
    for pkt in sent[3:]:
        await sock.send(pkt)
    await sock.queue.put(None)
    assert await asyncio.wait_for(waiting, 5) == sent[3:]
    assert await sock.poll() == []  # the end marker stayed for the next poll
    assert sock.queue.empty()


async def test_websocket_poll_has_no_timeout_but_polling_keeps_it(
    engine: SweepingEngineServer,
) -> None:
    """The library's poll gives up after pingInterval + pingTimeout on both transports; here
    the WebSocket wait outlives that (its end comes from the receive loop), polling's not."""
    budget_s = _PING_INTERVAL_S + _PING_TIMEOUT_S
    polling = await _connected(engine)
    with pytest.raises(exceptions.QueueEmpty):
        await asyncio.wait_for(polling.poll(), budget_s + 5)
    engine.sockets.clear()
    sock = await _connected(engine)
    sock.upgraded = True
    waiting = asyncio.ensure_future(sock.poll())
    done, _ = await asyncio.wait([waiting], timeout=budget_s + 0.5)
    assert not done  # still waiting past the library's timeout
    pkt = eio_packet.Packet(eio_packet.MESSAGE, "late")
    await sock.send(pkt)
    assert await asyncio.wait_for(waiting, 5) == [pkt]


async def test_cancelled_websocket_wait_ends_the_writer_as_in_the_library(
    engine: SweepingEngineServer,
) -> None:
    sock = await _connected(engine)
    sock.upgraded = True
    waiting = asyncio.ensure_future(sock.poll())
    await asyncio.sleep(0)  # let it reach the queue's wait
    waiting.cancel()
    with pytest.raises(exceptions.QueueEmpty):
        await waiting


async def test_a_burst_of_changes_arrives_in_order_over_websocket(target: Target, org: Org) -> None:
    """End to end through the bundled server: changes made concurrently (several packets
    queued per writer wake-up) reach a teammate's socket in seq order, without gaps."""
    owner, mate = org.team_of(2)
    writer, reader = await target.live(owner), await target.live(mate)
    try:
        changes = 15  # within the default burst: none refused by the rate limit
        acks = await asyncio.gather(*(
            writer.call(ClientEvent.MUTATE, {"mutationId": f"b{i}", "entityType": "escrow",
                                             "op": "create", "changes": {"address": f"{i} Elm"}})
            for i in range(changes)
        ))  # fmt: skip
        assert all(ack["ok"] for ack in acks), acks
        got = await reader.wait_for("escrow:created", changes, within=10)
        seqs = [event["seq"] for event in got]
        assert seqs == list(range(seqs[0], seqs[0] + changes))
    finally:
        await writer.close()
        await reader.close()
