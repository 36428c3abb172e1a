"""The ping check of an Engine.IO socket, forgiving the node's own loop lag (TRN-3, LIM-6)."""

from __future__ import annotations

import time
from typing import Any

from ..loop_lag import LoopLag

__all__ = ["LagForgivingPings"]


class LagForgivingPings:
    """A mixin for python-engineio's AsyncSocket: a ping is overdue only when the node's loop
    was on time for `pingTimeout` since it was sent (`LoopLag.responsive_s`).

    The library compares wall time: a pong that sat unread while the node's own loop ran
    late — a stalled turn, or thousands of callbacks ahead of it under load — closed the
    socket, on every send and every sweep after the stall: with a node stalled in 1.5 s turns
    under a 1 s pingTimeout, all 20 held sockets of a small load were closed by the server,
    the node blaming its clients for its own lag (LIM-6: overload must not fail the
    heartbeats of the sockets held; tests/load/test_load_overload.py). A client that is
    really silent is still closed once the loop has been on time for `pingTimeout` after its
    ping (TRN-3), and at once on a node that keeps up: the library's check then runs
    unchanged.
    """

    last_ping: float | None
    closed: bool
    server: Any

    async def check_ping_timeout(self) -> bool:
        last_ping, timeout = self.last_ping, self.server.ping_timeout
        if last_ping and not self.closed and time.time() - last_ping > timeout:
            loop_lag: LoopLag | None = getattr(self.server, "loop_lag", None)
            if loop_lag is not None and loop_lag.responsive_s(last_ping) <= timeout:
                return True  # late by the node's own lag: not yet the client's
        alive: bool = await super().check_ping_timeout()  # type: ignore[misc]
        return alive
