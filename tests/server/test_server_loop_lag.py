"""LoopLag (shedding and the heartbeat read it), and the ping check and WebSocket reader
that forgive the node's own lag (TRN-3, LIM-6). Stalls are made from inside the loop (a
blocking sleep), so what is asserted is a lower bound the stall guarantees however busy the
machine is."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from e2e_clients import wait_until

from reference_server.loop_lag import LoopLag
from reference_server.realtime.eio_websocket import LagTolerantWebSocket
from reference_server.realtime.ping_check import LagForgivingPings

STALL_S = 0.6
TICK_S = 0.1  # loop_lag._TICK_S: a tick is due at most this long after the stall starts


async def test_a_stall_is_measured_while_it_lasts_and_after() -> None:
    lag = LoopLag()
    lag.start()
    try:
        await asyncio.sleep(2 * TICK_S)
        before = time.time()
        time.sleep(STALL_S)  # noqa: ASYNC251 - the stall, measured from inside
        elapsed = time.time() - before
        # Overdue right now: the tick due during the stall has not run yet.
        assert lag.worst_ms() >= 1000 * (STALL_S - TICK_S)
        assert lag.responsive_s(before) <= elapsed - (STALL_S - TICK_S)
        await asyncio.sleep(0)
        assert lag.worst_ms() >= 1000 * (STALL_S - TICK_S)  # recorded once it ran
        # The stall leaves the 1 s window of worst_ms, but stays subtracted from any
        # stretch that contains it.
        assert await wait_until(lambda: lag.worst_ms() < 1000 * (STALL_S - TICK_S), 10.0)
        later = time.time()
        assert lag.responsive_s(before) <= (later - before) - (STALL_S - TICK_S)
    finally:
        await lag.stop()


async def test_a_loop_on_time_is_responsive_all_along() -> None:
    """The baseline: what a stretch without a stall measures is the stretch, less whatever
    this machine's own scheduling made the loop late (bounded by the stretch)."""
    lag = LoopLag()
    lag.start()
    try:
        before = time.time()
        await asyncio.sleep(5 * TICK_S)
        elapsed, responsive = time.time() - before, lag.responsive_s(before)
        assert 0.0 <= responsive <= elapsed + 0.01
    finally:
        await lag.stop()


class _LibrarySocket:
    """Stands for python-engineio's AsyncSocket: its check closes when called."""

    def __init__(self, server: Any, last_ping: float) -> None:
        self.server, self.last_ping, self.closed = server, last_ping, False
        self.library_checks = 0

    async def check_ping_timeout(self) -> bool:
        self.library_checks += 1
        if self.last_ping and time.time() - self.last_ping > self.server.ping_timeout:
            self.closed = True
            return False
        return True


class _Socket(LagForgivingPings, _LibrarySocket):
    pass


class _Server:
    def __init__(self, responsive_s: float | None) -> None:
        self.ping_timeout = 2.0
        self.loop_lag = None if responsive_s is None else _FixedLag(responsive_s)


class _FixedLag:
    def __init__(self, responsive_s: float) -> None:
        self.value = responsive_s

    def responsive_s(self, since_wall: float) -> float:
        return self.value


async def test_a_pong_late_by_the_nodes_lag_keeps_the_socket() -> None:
    """3 s since the ping, but the loop was on time for only 1 s of them: not the client's."""
    sock = _Socket(_Server(responsive_s=1.0), last_ping=time.time() - 3.0)
    assert await sock.check_ping_timeout() is True
    assert not sock.closed and sock.library_checks == 0


async def test_a_silent_client_is_still_closed() -> None:
    """TRN-3: the loop was on time for longer than pingTimeout since the ping: closed by the
    library's own check; and without a lag measure, the library decides alone."""
    sock = _Socket(_Server(responsive_s=2.5), last_ping=time.time() - 3.0)
    assert await sock.check_ping_timeout() is False and sock.closed
    bare = _Socket(_Server(responsive_s=None), last_ping=time.time() - 3.0)
    assert await bare.check_ping_timeout() is False and bare.closed


async def test_a_socket_within_its_timeout_costs_one_comparison() -> None:
    """The hot path (every send checks): no lag lookup while the ping is not yet late."""
    server = _Server(responsive_s=0.0)  # would forgive anything, but must not be asked
    sock = _Socket(server, last_ping=time.time() - 0.5)
    assert await sock.check_ping_timeout() is True and sock.library_checks == 1
    idle = _Socket(server, last_ping=0.0)  # no ping outstanding
    assert await idle.check_ping_timeout() is True


class _Receive:
    """An ASGI receive whose next message the test hands over when it wants."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.calls = 0

    async def __call__(self) -> dict[str, Any]:
        self.calls += 1
        return await self.queue.get()


class _EngineServer:
    ping_interval, ping_timeout = 0.2, 0.1  # the reader's window: 0.3 s

    def __init__(self, lost_s: float) -> None:
        self.loop_lag = _LostLag(lost_s)


class _LostLag:
    """The loop lost `lost_s` of any stretch to lag."""

    def __init__(self, lost_s: float) -> None:
        self.lost_s = lost_s

    def responsive_s(self, since_wall: float) -> float:
        return max(0.0, time.time() - since_wall - self.lost_s)


def _websocket(server: _EngineServer) -> tuple[LagTolerantWebSocket, _Receive]:
    ws = LagTolerantWebSocket(lambda _ws: None, server)
    receive = _Receive()
    ws.asgi_receive = receive
    return ws, receive


async def test_the_reader_gets_a_noop_when_its_window_went_to_the_nodes_lag() -> None:
    """A tenth of the window lost to lag: the reader gets a NOOP before its timeout and waits
    again; the receive it was waiting on goes on, and its packet comes with the next wait."""
    ws, receive = _websocket(_EngineServer(lost_s=0.1))
    assert await asyncio.wait_for(ws.wait(), 10.0) == "6"
    receive.queue.put_nowait({"type": "websocket.receive", "text": "3"})
    assert await asyncio.wait_for(ws.wait(), 10.0) == "3"
    assert receive.calls == 1  # one receive all along: nothing read twice or dropped


async def test_a_silent_client_on_a_node_on_time_meets_the_readers_timeout() -> None:
    """No lag: no NOOP; the reader's own timeout ends the wait (and the receive with it)."""
    ws, _ = _websocket(_EngineServer(lost_s=0.0))
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(ws.wait(), 0.3)
    assert ws._receiving is None
