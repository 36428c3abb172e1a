"""Engine.IO's ping-timeout sweep, one pass a second instead of one wake-up per socket.

python-engineio's service task visits the sockets one at a time, spreading a `pingTimeout`
over all of them: with 2,200 sockets and a 5 s timeout it wakes every 2.3 ms, and each wake
is an `asyncio.wait_for` on an event (a task, a timer and a raised TimeoutError) — 440 a
second whatever the traffic, and every timer goes through the loop's heap of thousands of
per-socket timers (issue 13, profiled under the 2,000-user load). The check itself is a time
comparison per socket. Here one pass over all sockets runs every `_SWEEP_S`, which also
finds a silent socket sooner than the library did (within `pingTimeout` + 1 s of the
unanswered ping rather than + `pingTimeout`), well inside TRN-3's bound; websocket sockets
are also closed by their own receive timeout, as before.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import engineio
import socketio

from ..loop_lag import LoopLag
from .eio_socket import SocketTable
from .eio_websocket import LagTolerantWebSocket

__all__ = ["SweepingEngineServer", "SweepingServer"]

_SWEEP_S = 1.0
log = logging.getLogger(__name__)


class SweepingEngineServer(engineio.AsyncServer):
    """engineio.AsyncServer with the per-socket service task replaced by a sweep, and its
    sockets' WebSocket writers waiting without a timer per packet (`realtime.eio_socket`)."""

    loop_lag: LoopLag | None = None  # what the sockets' ping checks forgive (eio_socket)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # This server's own copy of the driver table (the module's is shared): its
        # WebSockets' reader timeout forgives the loop's lag (realtime.eio_websocket).
        drivers: dict[str, Any] = self._async  # type: ignore[has-type]
        self._async = {**drivers, "websocket": LagTolerantWebSocket}

    @property
    def sockets(self) -> SocketTable:
        return self._socket_table

    @sockets.setter
    def sockets(self, table: dict[str, Any]) -> None:
        # The library assigns a plain dict (at start, and after disconnecting everyone).
        self._socket_table = SocketTable(table)

    async def _service_task(self) -> None:
        self.service_task_event = self.create_event()
        stop = self.service_task_event
        while not stop.is_set():
            try:
                await self._sweep()
            except asyncio.CancelledError:
                break
            except Exception:  # one failed check must not end the sweeps (as the library)
                if asyncio.get_running_loop().is_closed():
                    break
                log.exception("heartbeat sweep failed")
            try:
                await asyncio.wait_for(stop.wait(), timeout=_SWEEP_S)
            except TimeoutError:
                continue
            except asyncio.CancelledError:
                break

    async def _sweep(self) -> None:
        """What the library's task does for each socket: forget closed ones, close silent ones
        (`check_ping_timeout` is a time comparison unless the socket is late)."""
        sockets: dict[str, Any] = self.sockets
        for sid, sock in list(sockets.items()):
            if sock.closed:
                sockets.pop(sid, None)
            elif not sock.closing:
                await sock.check_ping_timeout()


class SweepingServer(socketio.AsyncServer):
    """socketio.AsyncServer on a `SweepingEngineServer`; `loop_lag` (started by the app) is
    what its sockets' ping checks forgive."""

    def __init__(self, *args: Any, loop_lag: LoopLag | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.eio.loop_lag = loop_lag

    def _engineio_server_class(self) -> type[engineio.AsyncServer]:
        return SweepingEngineServer
