"""A lean Socket.IO v5 / Engine.IO v4 client over a raw WebSocket, one greenlet per socket.

Why not python-socketio's client: each of its clients runs reader, writer and ping threads
(greenlets under gevent) plus a websocket-client object; at 10,000 users that is most of a
generator core spent idle. Here a socket is a TCP connection, a receive buffer and ONE reader
greenlet that answers pings, resolves acks and hands each event to a callback together with
its receive time and wire size. Only what the spec needs: default namespace, text frames,
acks, no polling transport and no binary attachments.

https:// targets are reached over TLS (wss) with gevent's SSL socket, trusting what the run's
`ConnectionOptions` trust (system store, `--ca-cert`, or nothing with `--insecure`); its extra
headers go on the WebSocket handshake and its Socket.IO path is the one requested.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import struct
import time
from collections.abc import Callable
from typing import Any

import gevent
from gevent import socket as gsocket
from gevent.event import AsyncResult
from gevent.lock import Semaphore

from harness.client import ConnectionOptions

from .wire_errors import ConnectRefused, WireError
from .wire_protocol import (
    EIO_CLOSE,
    EIO_MESSAGE,
    EIO_OPEN,
    EIO_PING,
    EIO_PONG,
    OP_CLOSE,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    PING_FRAME,
    PONG_FRAME,
    SIO_ACK,
    SIO_CONNECT,
    SIO_CONNECT_ERROR,
    SIO_DISCONNECT,
    SIO_EVENT,
    client_frame,
)
from .wire_target import WireTarget, resolved, tls_context

__all__ = ["CLOSED_BY_CLIENT", "EventCallback", "LeanSocket"]

_RECV_SIZE = 65536

CLOSED_BY_CLIENT = "closed by client"

# event name, payload, receive time (epoch s), wire bytes of the frame
EventCallback = Callable[[str, Any, float, int], None]


class LeanSocket:
    """One Socket.IO connection. `connect()` blocks until CONNECT is answered."""

    __slots__ = (
        "_acks",
        "_buf",
        "_drained",
        "_ids",
        "_options",
        "_reader",
        "_sock",
        "_target",
        "_write_lock",
        "closed_reason",
        "connected",
        "on_close",
        "on_event",
        "sid",
    )

    def __init__(
        self, url: str, on_event: EventCallback, options: ConnectionOptions | None = None
    ) -> None:
        self._target = WireTarget.parse(url)
        self._options = options or ConnectionOptions()
        self.on_event = on_event
        self.on_close: Callable[[str], None] | None = None
        self._sock: gsocket.socket | None = None
        self._buf = bytearray()
        self._drained = False
        self._acks: dict[int, AsyncResult] = {}
        self._ids = itertools.count(1)
        self._write_lock = Semaphore()
        self._reader: gevent.Greenlet | None = None
        self.connected = False
        self.sid: str | None = None
        self.closed_reason: str | None = None

    # -- connection -------------------------------------------------------------------------

    def connect(self, token: str, timeout: float = 10.0) -> None:
        t = self._target
        try:
            with gevent.Timeout(timeout, WireError(f"connect timed out after {timeout}s")):
                family, address = resolved(t.host, t.port)
                sock = gsocket.socket(family, gsocket.SOCK_STREAM)
                self._sock = sock  # closed by `_drop` if the connect fails
                sock.connect(address)
                sock.setsockopt(gsocket.IPPROTO_TCP, gsocket.TCP_NODELAY, 1)
                if t.tls:
                    # Assigned before the handshake, so that a failed one is closed by _drop.
                    self._sock = tls_context(self._options).wrap_socket(
                        sock, server_hostname=t.host
                    )
                self._handshake()
                opened = self._read_text()
                if not opened.startswith(EIO_OPEN):
                    raise WireError(f"expected Engine.IO OPEN, got {opened[:40]!r}")
                self._send_text(EIO_MESSAGE + SIO_CONNECT + json.dumps({"token": token}))
                while True:
                    text = self._read_text()
                    if text == EIO_PING:
                        self._send_text(EIO_PONG)
                        continue
                    break
        except OSError as exc:
            self._drop()
            raise WireError(str(exc) or type(exc).__name__) from exc
        except WireError:
            self._drop()
            raise
        kind = text[1:2] if text.startswith(EIO_MESSAGE) else ""
        if kind == SIO_CONNECT_ERROR:
            self._drop()
            body = json.loads(text[2:] or "{}")
            data = body.get("data") or {}
            retry = data.get("retryAfterMs")
            if isinstance(retry, bool) or not isinstance(retry, int | float):
                retry = None  # absent or not a number: the engine's own back-off applies
            raise ConnectRefused(str(body.get("message")), data.get("code"), retry)
        if kind != SIO_CONNECT:
            self._drop()
            raise WireError(f"expected CONNECT answer, got {text[:40]!r}")
        self.sid = json.loads(text[2:] or "{}").get("sid")
        self.connected = True
        self._reader = gevent.spawn(self._read_loop)

    def _handshake(self) -> None:
        assert self._sock is not None
        t, options = self._target, self._options
        key = base64.b64encode(os.urandom(16)).decode()
        extra = "".join(f"{name}: {value}\r\n" for name, value in options.headers)
        request = (
            f"GET {t.base_path}{options.socketio_path}?EIO=4&transport=websocket HTTP/1.1\r\n"
            f"Host: {t.host_header}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
        )
        self._sock.sendall(request.encode())
        while b"\r\n\r\n" not in self._buf:
            self._fill()
        head, _, rest = bytes(self._buf).partition(b"\r\n\r\n")
        self._buf = bytearray(rest)
        status = head.split(b"\r\n", 1)[0]
        if b" 101 " not in status + b" ":
            raise WireError(f"WebSocket upgrade refused: {status.decode(errors='replace')}")

    def _fill(self) -> None:
        sock = self._sock
        assert sock is not None
        if self._drained:
            # The last read emptied the kernel buffer: wait for readability first, so that
            # recv does not fail with EAGAIN (an exception and a wasted syscall per frame).
            sock._wait(sock._read_event)
        chunk = sock.recv(_RECV_SIZE)
        if not chunk:
            raise WireError("connection closed by server")
        # TLS hands out one record (at most 16 KiB) per recv, and may hold decrypted bytes
        # the kernel no longer shows as readable: its recv waits by itself instead.
        self._drained = len(chunk) < _RECV_SIZE and not self._target.tls
        self._buf += chunk

    def _read_frame(self) -> tuple[int, bytes, int]:
        """(opcode, payload, wire bytes); continuation frames are joined."""
        parts: list[bytes] = []
        total = 0
        opcode = -1
        while True:
            while len(self._buf) < 2:
                self._fill()
            b0, b1 = self._buf[0], self._buf[1]
            n = b1 & 0x7F
            offset = 2
            if n == 126:
                while len(self._buf) < 4:
                    self._fill()
                n = struct.unpack_from("!H", self._buf, 2)[0]
                offset = 4
            elif n == 127:
                while len(self._buf) < 10:
                    self._fill()
                n = struct.unpack_from("!Q", self._buf, 2)[0]
                offset = 10
            while len(self._buf) < offset + n:
                self._fill()
            parts.append(bytes(self._buf[offset : offset + n]))
            del self._buf[: offset + n]
            total += offset + n
            if opcode < 0:  # continuation frames carry opcode 0; the first one decides
                opcode = b0 & 0x0F
            if b0 & 0x80:
                return opcode, b"".join(parts), total

    def _read_text(self) -> str:
        while True:
            opcode, payload, _ = self._read_frame()
            if opcode == OP_TEXT:
                return payload.decode()
            if opcode == OP_CLOSE:
                raise WireError("server closed the WebSocket")
            if opcode == OP_PING:
                self._send_raw(client_frame(OP_PONG, payload))

    # -- reading ----------------------------------------------------------------------------

    def _read_loop(self) -> None:
        reason = "closed"
        buf = self._buf
        try:
            while True:
                if not buf:
                    self._fill()
                if buf.startswith(PING_FRAME):
                    del buf[:3]
                    self._send_pong()
                    continue
                opcode, payload, nbytes = self._read_frame()
                t_recv = time.time()
                if opcode == OP_TEXT:
                    if not self._dispatch(payload.decode(), t_recv, nbytes):
                        reason = "server disconnect"
                        break
                elif opcode == OP_CLOSE:
                    reason = "server closed the WebSocket"
                    break
                elif opcode == OP_PING:
                    self._send_raw(client_frame(OP_PONG, payload))
        except (OSError, WireError) as exc:
            reason = str(exc) or type(exc).__name__
        except gevent.GreenletExit:
            reason = CLOSED_BY_CLIENT
        self._finish(reason)

    def _dispatch(self, text: str, t_recv: float, nbytes: int) -> bool:
        """Handle one Engine.IO packet; False when the server ended the session."""
        kind = text[:1]
        if kind == EIO_PING:
            self._send_text(EIO_PONG)
            return True
        if kind == EIO_CLOSE:
            return False
        if kind != EIO_MESSAGE:
            return True
        sio = text[1:2]
        if sio == SIO_EVENT:
            body = text[2:]
            start = body.find("[")
            args = json.loads(body[start:])
            self.on_event(args[0], args[1] if len(args) > 1 else None, t_recv, nbytes)
        elif sio == SIO_ACK:
            body = text[2:]
            start = body.find("[")
            waiter = self._acks.pop(int(body[:start]), None)
            if waiter is not None:
                args = json.loads(body[start:])
                waiter.set(args[0] if args else None)
        elif sio == SIO_DISCONNECT:
            return False
        return True

    # -- writing ----------------------------------------------------------------------------

    def _send_raw(self, data: bytes) -> None:
        if self._sock is None:
            raise WireError("not connected")
        with self._write_lock:
            self._sock.sendall(data)

    def _send_pong(self) -> None:
        sock = self._sock
        if sock is None:
            raise WireError("not connected")
        with self._write_lock:
            # A 7-byte frame on an idle socket always fits the send buffer; sendall's chunking
            # machinery is only needed when it did not.
            sent = sock.send(PONG_FRAME)
            if sent < len(PONG_FRAME):
                sock.sendall(PONG_FRAME[sent:])

    def _send_text(self, text: str) -> int:
        data = client_frame(OP_TEXT, text.encode())
        self._send_raw(data)
        return len(data)

    def emit(self, event: str, payload: Any) -> int:
        """Fire-and-forget event; returns the wire bytes sent."""
        return self._send_text(EIO_MESSAGE + SIO_EVENT + json.dumps([event, payload]))

    def call(self, event: str, payload: Any, timeout: float = 10.0) -> tuple[Any, int]:
        """Emit with an ack (TRN-5); (ack payload, wire bytes sent). WireError on timeout."""
        ack_id = next(self._ids)
        waiter: AsyncResult = AsyncResult()
        self._acks[ack_id] = waiter
        try:
            sent = self._send_text(
                EIO_MESSAGE + SIO_EVENT + str(ack_id) + json.dumps([event, payload])
            )
            return waiter.get(timeout=timeout), sent
        except gevent.Timeout as exc:
            raise WireError(f"no ack for {event} within {timeout}s") from exc
        except OSError as exc:
            raise WireError(str(exc)) from exc
        finally:
            self._acks.pop(ack_id, None)

    # -- closing ----------------------------------------------------------------------------

    def close(self) -> None:
        if self._sock is not None and self.connected:
            with contextlib.suppress(OSError, WireError):
                self._send_text(EIO_MESSAGE + SIO_DISCONNECT)
        if self._reader is not None and gevent.getcurrent() is not self._reader:
            self._reader.kill(block=False)
        self._finish(CLOSED_BY_CLIENT)

    def _drop(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
            self._sock = None

    def _finish(self, reason: str) -> None:
        was_connected = self.connected
        self.connected = False
        self._drop()
        for waiter in self._acks.values():
            waiter.set_exception(WireError(f"disconnected: {reason}"))
        self._acks.clear()
        if was_connected:
            self.closed_reason = reason
            if self.on_close is not None:
                self.on_close(reason)
