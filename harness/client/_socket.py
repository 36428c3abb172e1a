"""The python-socketio client underneath `RealtimeClient`, instrumented for measurement.

It records the wire size of every Socket.IO packet it receives, hands the packets it sends
and receives to a `Transcript` when given one, and can be told to stop answering Engine.IO
pings (TRN-3) or to drop its transport without a goodbye.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import socketio
from engineio import packet as eio_packet
from socketio import packet as sio_packet

from ._transcript import Transcript

__all__ = ["InstrumentedClient"]

_OWN_PATIENCE_S = 3600.0  # added to the client's own server timeout while pongs are suppressed


class InstrumentedClient(socketio.AsyncClient):
    """`socketio.AsyncClient` plus `last_wire_bytes` and ping suppression.

    `last_wire_bytes` is set just before the packet's event handler runs, and the handler
    runs before any other packet is decoded, so the handler may read it.
    """

    def __init__(
        self, *, transcript: Transcript | None = None, channel: str = "socket", **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.transcript = transcript
        self.channel = channel
        self.last_wire_bytes = 0
        self.answer_pings = True
        self._announced_heartbeat: tuple[int, int] | None = None

    async def _handle_eio_message(self, data: Any) -> None:
        self.last_wire_bytes = len(data.encode()) if isinstance(data, str) else len(data)
        if self.transcript is not None:
            self.transcript.record("received", self.channel, _frame_text(data))
        await super()._handle_eio_message(data)

    async def _send_packet(self, pkt: Any) -> None:
        if self.transcript is not None:
            encoded = pkt.encode()
            for part in encoded if isinstance(encoded, list) else [encoded]:
                self.transcript.record("sent", self.channel, _frame_text(part))
        await super()._send_packet(pkt)

    def suppress_pongs(self) -> None:
        """From now on the Engine.IO client drops its PONG packets: the server must time out.

        python-engineio's client also gives up by itself after pingInterval + pingTimeout
        without a packet from the server; from now on it waits far longer, so that a server
        that never times a silent client out is not mistaken for one that does (TRN-3).
        """
        self.answer_pings = False
        eio = self.eio
        self._announced_heartbeat = self.heartbeat_ms()
        eio.ping_timeout += _OWN_PATIENCE_S
        original = eio._send_packet

        async def send_unless_pong(pkt: Any) -> None:
            if pkt.packet_type == eio_packet.PONG and not self.answer_pings:
                return
            await original(pkt)

        eio._send_packet = send_unless_pong

    async def drop_transport(self) -> None:
        """Close the WebSocket (or stop polling) abruptly: no DISCONNECT, no CLOSE packet."""
        eio = self.eio
        if eio.current_transport == "websocket" and eio.ws is not None:
            await eio.ws.close()
        elif eio.http is not None:
            await eio.http.close()

    async def close(self) -> None:
        """Disconnect; over polling without waiting for the pending long-poll GET to return
        (python-engineio would wait up to pingInterval + pingTimeout)."""
        if self.transport() != "polling":
            await self.disconnect()
            return
        for namespace in list(self.namespaces):
            await self._send_packet(self.packet_class(sio_packet.DISCONNECT, namespace=namespace))
        await self.eio.disconnect(abort=True)
        reader = self.eio.read_loop_task
        if reader is not None and not reader.done():
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader

    def heartbeat_ms(self) -> tuple[int, int]:
        """(pingInterval, pingTimeout) from the Engine.IO handshake, in ms."""
        if self._announced_heartbeat is not None:
            return self._announced_heartbeat
        return (round(self.eio.ping_interval * 1000), round(self.eio.ping_timeout * 1000))


def _frame_text(data: str | bytes) -> str:
    """A Socket.IO packet as it went over the wire; a binary attachment by its size."""
    return data if isinstance(data, str) else f"<binary attachment, {len(data)} bytes>"
