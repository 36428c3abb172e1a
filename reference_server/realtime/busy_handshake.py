"""LIM-6 refusals answered at the WebSocket handshake, before python-engineio sees it.

Under overload most connects are refused, and every refused client comes back: a refusal
must cost the node as little as it can. A refusal through python-socketio sets up a whole
Engine.IO session first (a socket object, its queue, its ping task, a writer task), only to
tear it down after the Socket.IO CONNECT is refused. A fresh WebSocket connect (no `sid`,
`transport=websocket`, Engine.IO 4) while the node is past its budget is answered here
instead, with the exact frames a client relies on (AUTH-2 form):

    server: 0{"sid", "upgrades": [], "pingInterval", "pingTimeout", "maxPayload"}   OPEN
    client: 40[/nsp,]{auth}                                                         CONNECT
    server: 44[/nsp,]{"message": "Server busy",
                      "data": {"code": "SERVER_BUSY", "retryAfterMs": N}}          CONNECT_ERROR

and the connection closes when the client closes it (as python-socketio leaves it), or after
a short linger. HTTP long-polling handshakes, upgrades and every connect the node takes go
to python-socketio unchanged.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from harness.spec import AUTH_MESSAGES, ErrorCode

__all__ = ["BusyHandshake", "EngineOpen"]

_BUSY = ErrorCode.SERVER_BUSY
_SIO_CONNECT = "40"
_SIO_CONNECT_ERROR = "44"
# How long a refused client may take to send its CONNECT, and then to close.
_CONNECT_WAIT_S = 10.0
_LINGER_S = 5.0


@dataclass(frozen=True, slots=True)
class EngineOpen:
    """What an Engine.IO OPEN packet announces (the values python-engineio would send)."""

    ping_interval_ms: int
    ping_timeout_ms: int
    max_payload: int

    @classmethod
    def of(cls, eio: Any) -> EngineOpen:
        """From a python-engineio server, computed the way it computes its own OPEN."""
        interval = int(eio.ping_interval + eio.ping_interval_grace_period) * 1000
        return cls(interval, int(eio.ping_timeout * 1000), int(eio.max_http_buffer_size))

    def packet(self) -> str:
        body = {"sid": secrets.token_urlsafe(15), "upgrades": [],
                "pingInterval": self.ping_interval_ms, "pingTimeout": self.ping_timeout_ms,
                "maxPayload": self.max_payload}  # fmt: skip
        return "0" + json.dumps(body, separators=(",", ":"))


def _fresh_websocket(scope: Scope, path: str) -> bool:
    """A new Engine.IO 4 session over WebSocket at `path` (not an upgrade: no `sid`)."""
    if scope["type"] != "websocket" or scope.get("path", "").rstrip("/") != path:
        return False
    query = scope.get("query_string", b"").split(b"&")
    return (
        b"EIO=4" in query
        and b"transport=websocket" in query
        and not any(part.startswith(b"sid=") for part in query)
    )


def _connect_error(connect: str, retry_after_ms: int) -> str:
    """The CONNECT_ERROR answering a client's CONNECT packet, in its namespace."""
    namespace = ""
    if connect.startswith(_SIO_CONNECT + "/"):
        namespace = connect[2:].split(",", 1)[0] + ","
    body = {"message": AUTH_MESSAGES[_BUSY], "data": {"code": _BUSY.value,
            "retryAfterMs": retry_after_ms}}  # fmt: skip
    return _SIO_CONNECT_ERROR + namespace + json.dumps(body, separators=(",", ":"))


class BusyHandshake:
    """ASGI middleware: `refuse()` gives retryAfterMs when a new connect must be refused now
    (and counts it), else None."""

    def __init__(self, app: ASGIApp, refuse: Callable[[], int | None], engine: EngineOpen,
                 socketio_path: str) -> None:  # fmt: skip
        self.app = app
        self._refuse = refuse
        self._engine = engine
        self._path = "/" + socketio_path.strip("/")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not _fresh_websocket(scope, self._path):
            await self.app(scope, receive, send)
            return
        retry_after_ms = self._refuse()
        if retry_after_ms is None:
            await self.app(scope, receive, send)
            return
        await self._refused(receive, send, retry_after_ms)

    async def _refused(self, receive: Receive, send: Send, retry_after_ms: int) -> None:
        if (await receive())["type"] != "websocket.connect":
            return
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": self._engine.packet()})
        try:
            async with asyncio.timeout(_CONNECT_WAIT_S):
                message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text") or ""
            if text.startswith(_SIO_CONNECT):
                await send({"type": "websocket.send", "text": _connect_error(text, retry_after_ms)})
                async with asyncio.timeout(_LINGER_S):
                    while message["type"] != "websocket.disconnect":
                        message = await receive()
                return
        except TimeoutError:
            pass
        await send({"type": "websocket.close", "code": 1000})
