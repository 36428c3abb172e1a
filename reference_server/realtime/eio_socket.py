"""Engine.IO sockets whose WebSocket writer waits on its queue directly.

python-engineio 4.15's `AsyncSocket.poll` wraps every wait for a queued packet in
`asyncio.wait_for(queue.get(), pingInterval + pingTimeout)`: per wake-up a task, a timer
pushed on the loop's heap (thousands of sockets, so a deep heap) and a cancelled timer left
behind — on every delivery, since each delivery wakes its socket's writer (issue 13 item 3).

On the WebSocket transport that timeout is redundant. The writer ends when the socket's
receive loop ends (which puts `None` on the queue), and that loop has its own
`pingInterval + pingTimeout` read timeout; a silent client is also closed by the ping-timeout
sweep (`realtime.heartbeat`), which queues a CLOSE packet. So once upgraded, `poll` awaits
`queue.get()` itself. Long-polling keeps the library's timed wait: there the timeout is what
ends a GET held by a client that went away.

The seam: the library builds its sockets with a hard-coded `async_socket.AsyncSocket(self,
sid)` and stores each one with `self.sockets[sid] = s` before sending anything on it.
`SocketTable` is that dict; on the store it moves a library socket to `DirectWaitSocket`
(a subclass adding no state, so the instance is the same object with a different `poll`).
No library code is copied; tests/server/test_server_eio_socket.py fails if the library stops
creating or storing its sockets that way, or changes the `poll` this replaces.
"""

from __future__ import annotations

import asyncio
from typing import Any

from engineio import exceptions
from engineio.async_socket import AsyncSocket

from .ping_check import LagForgivingPings

__all__ = ["DirectWaitSocket", "SocketTable"]


class DirectWaitSocket(LagForgivingPings, AsyncSocket):
    """An AsyncSocket whose `poll` awaits the queue without a timer once on WebSocket, and
    whose ping check forgives the node's own loop lag (`realtime.ping_check`)."""

    async def poll(self) -> list[Any]:
        if not self.upgraded:
            packets: list[Any] = await super().poll()  # long-polling: the timed wait
            return packets
        queue: asyncio.Queue[Any] = self.queue
        try:
            first = await queue.get()
        except asyncio.CancelledError:  # as the library: a cancelled wait ends the writer
            raise exceptions.QueueEmpty() from None
        queue.task_done()
        if first is None:
            return []
        packets = [first]
        # What else is queued goes out in the same wake-up (as the library does).
        while not queue.empty():
            pkt = queue.get_nowait()
            queue.task_done()
            if pkt is None:
                queue.put_nowait(None)  # the end marker stays for the next poll
                break
            packets.append(pkt)
        return packets


class SocketTable(dict[str, Any]):
    """The engine server's sid → socket dict, turning each library socket stored into a
    `DirectWaitSocket`."""

    def __setitem__(self, sid: str, sock: Any) -> None:
        if type(sock) is AsyncSocket:
            sock.__class__ = DirectWaitSocket
        super().__setitem__(sid, sock)
