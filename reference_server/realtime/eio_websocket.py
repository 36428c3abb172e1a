"""The WebSocket under an Engine.IO socket, keeping its reader's timeout off the node's lag.

python-engineio's WebSocket reader waits for each client packet with `asyncio.wait_for(...,
pingInterval + pingTimeout)` of wall time, and closes the socket when that runs out. Its
job is a peer gone without a FIN. But a node whose loop runs late (a stalled turn, a
backlog under overload) leaves client packets unread in the socket for that long, and the
reader then closes a socket whose pong is sitting right there: measured with a node stalled
in 1.5 s turns under pingTimeout 1 s, 5 of 20 held sockets that only answered pings were
closed this way once the ping check itself forgave the lag (`realtime.ping_check`).

So `wait()` hands the reader a NOOP packet (which python-engineio ignores, then waits again
with a fresh timeout) when most of its window has gone by and a real part of it was the
node's own lag (`LoopLag`), while the receive it was waiting on goes on. A silent client
on a node that keeps up meets the library's timeout unchanged; one that is silent while the
node lags is closed by the ping check once the loop has been on time for pingTimeout.
The seam: python-engineio builds each WebSocket with `server._async["websocket"](handler,
server)`; `SweepingEngineServer` puts this class there for its own server only.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from engineio.async_drivers.asgi import WebSocket

from ..loop_lag import LoopLag

__all__ = ["LagTolerantWebSocket"]

# The reader's window is checked when this share of it has gone by...
_CHECK_AT = 0.8
# ...and renewed when the loop lost more than this share of it.
_LOST_SHARE = 0.1
_NOOP = "6"  # Engine.IO NOOP: python-engineio's reader skips it


class LagTolerantWebSocket(WebSocket):
    def __init__(self, handler: Any, server: Any) -> None:
        super().__init__(handler, server)
        self._server = server
        self._socket = getattr(handler, "__self__", None)  # the Engine.IO socket it serves
        self._receiving: asyncio.Future[Any] | None = None

    async def wait(self) -> Any:
        loop_lag: LoopLag | None = getattr(self._server, "loop_lag", None)
        if loop_lag is None:
            return await super().wait()
        if self._receiving is None:
            self._receiving = asyncio.ensure_future(super().wait())
        receiving, started = self._receiving, time.time()
        window = self._server.ping_interval + self._server.ping_timeout
        try:
            done, _ = await asyncio.wait({receiving}, timeout=window * _CHECK_AT)
            if not done:
                lost = (time.time() - started) - loop_lag.responsive_s(started)
                if lost > window * _LOST_SHARE and not getattr(self._socket, "closed", False):
                    return _NOOP  # the receive goes on; the reader waits again
                await asyncio.wait({receiving})  # the library's timeout decides
        except asyncio.CancelledError:
            receiving.cancel()
            self._receiving = None
            raise
        self._receiving = None
        return receiving.result()
