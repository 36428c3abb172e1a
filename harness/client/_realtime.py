"""`RealtimeClient`: one Socket.IO connection to a CRM server, recording everything it receives.

Every received event is kept (`events`) with its receive time and wire size, and durable events
are fed to a `StreamTracker`, so a client can `sync()` with the cursors it holds after a
reconnect (STR-5). `reconnect()` opens a new connection that keeps that state.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import aiohttp
import socketio

from harness.spec import ClientEvent

from ._connection import ConnectionOptions
from ._inbox import EventInbox
from ._listeners import PayloadListener
from ._messages import (
    Ack,
    ConnectFailure,
    ConnectRefused,
    DisconnectInfo,
    ReceivedEvent,
)
from ._pacing import Pacer
from ._socket import InstrumentedClient
from ._streams import StreamTracker
from ._transcript import Transcript

__all__ = ["RealtimeClient"]

ConnectHook = Callable[["RealtimeClient"], Awaitable[None]]


class RealtimeClient(EventInbox):
    """An asyncio Socket.IO client speaking the spec.

    `token_in` chooses where the token travels (AUTH-1): `"auth"` (the CONNECT packet's
    `auth.token`), `"header"` (`Authorization: Bearer`), or `"both"`. `token=None` sends none.
    `options` carries TLS trust, the deployment's extra headers and the Socket.IO path;
    `headers` add to (and override) those headers for this client. A `transcript` is fed
    every Socket.IO packet sent and received (tokens elided).
    """

    def __init__(
        self,
        url: str,
        token: str | None,
        *,
        transports: Sequence[str] = ("websocket",),
        token_in: str = "auth",
        headers: Mapping[str, str] | None = None,
        auth: Any = None,
        connect_timeout: float = 5.0,
        label: str = "",
        pacer: Pacer | None = None,
        listeners: Sequence[PayloadListener] = (),
        options: ConnectionOptions | None = None,
        transcript: Transcript | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.transcript = transcript
        if transcript is not None:
            transcript.add_secret(token)
        self.options = options or ConnectionOptions()
        self.token = token
        self.transports = list(transports)
        self.token_in = token_in
        self.extra_headers = dict(headers or {})
        self.auth_override = auth
        self.connect_timeout = connect_timeout
        self.label = label
        self.pacer = pacer  # None: send at once (flood checks); else stay inside a rate
        self.listeners = list(listeners)
        super().__init__()
        self.tracker = StreamTracker()
        self.disconnects: list[DisconnectInfo] = []
        self.connect_failure: ConnectFailure | None = None
        self._hooks: list[ConnectHook] = []
        self._disconnected = asyncio.Event()
        self._sio: InstrumentedClient | None = None

    # connection -----------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._sio is not None and bool(self._sio.connected)

    @property
    def sid(self) -> str | None:
        return self._sio.get_sid() if self._sio is not None else None

    @property
    def socket(self) -> InstrumentedClient:
        if self._sio is None:
            raise RuntimeError("not connected")
        return self._sio

    def on_connected(self, hook: ConnectHook) -> None:
        """Run `hook(client)` after every later successful `reconnect()`."""
        self._hooks.append(hook)

    def _connect_args(self) -> tuple[dict[str, str], Any]:
        headers = {**self.options.header_map(), **self.extra_headers}
        auth: Any = self.auth_override
        if self.token is not None and self.token_in in ("header", "both"):
            headers["Authorization"] = f"Bearer {self.token}"
        if auth is None and self.token is not None and self.token_in in ("auth", "both"):
            auth = {"token": self.token}
        return headers, auth

    async def try_connect(self) -> ConnectFailure | None:
        """Connect; a refusal comes back as data (None means connected)."""
        if self.connected:
            return None
        # Our own HTTP session (polling and the WebSocket), trusting what `options` says. It is
        # handed over as an object, which every python-engineio 4 takes, and closed with `sio`.
        http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=self.options.ssl_context()))
        channel = f"socket {self.label}".rstrip()
        sio = InstrumentedClient(
            reconnection=False, http_session=http, transcript=self.transcript, channel=channel
        )
        refusals: list[Any] = []
        sio.on("*", self._make_catch_all(sio))
        sio.on("connect_error", lambda data=None: refusals.append(data))
        sio.on("disconnect", self._on_disconnect)
        headers, auth = self._connect_args()
        self._disconnected.clear()
        if self.transcript is not None:
            where = f"{self.url} ({'/'.join(self.transports)})"
            self.transcript.http_request("CONNECT", where, headers, None, channel=channel)
        try:
            await sio.connect(
                self.url,
                headers=headers,
                auth=auth,
                transports=self.transports,
                socketio_path=self.options.socketio_path.strip("/"),
                wait_timeout=self.connect_timeout,
            )
        except socketio.exceptions.ConnectionError as exc:
            if refusals and refusals[-1] is not None and not isinstance(refusals[-1], str):
                failure = ConnectFailure.from_packet(refusals[-1])
            else:
                detail = str(refusals[-1]) if refusals else str(exc)
                failure = ConnectFailure(detail, None, refusals[-1] if refusals else None, str(exc))
            self.connect_failure = failure
            if self.transcript is not None:
                self.transcript.record("received", channel, f"connect failed: {failure.message}")
            await self._safe_close(sio)
            return failure
        self._sio = sio
        self.connect_failure = None
        return None

    async def connect(self) -> None:
        failure = await self.try_connect()
        if failure is not None:
            raise ConnectRefused(failure)

    async def reconnect(self, *, sync: bool = True, timeout: float = 5.0) -> Ack | None:  # noqa: ASYNC109
        """A new connection keeping events and cursors; then `sync()` and the connect hooks."""
        if self.connected:
            await self.disconnect()
        await self.connect()
        ack = await self.sync(timeout=timeout) if sync else None
        for hook in self._hooks:
            await hook(self)
        return ack

    async def disconnect(self) -> None:
        if self._sio is not None:
            await self._safe_close(self._sio)

    async def drop_transport(self) -> None:
        """Lose the connection abruptly (no Socket.IO DISCONNECT), as a network failure would."""
        if self._sio is not None and self._sio.connected:
            await self._sio.drop_transport()
            await self.wait_disconnected(5.0)

    async def wait_disconnected(self, timeout: float) -> bool:  # noqa: ASYNC109
        """True once the current connection has ended (by either side) within `timeout`."""
        if not self.connected and self._disconnected.is_set():
            return True
        try:
            await asyncio.wait_for(self._disconnected.wait(), timeout)
        except TimeoutError:
            return False
        return True

    @staticmethod
    async def _safe_close(sio: InstrumentedClient) -> None:
        try:
            await sio.close()
            await sio.shutdown()
        except Exception:  # closing a broken connection may fail in many ways; it is closed
            pass
        http = sio.eio.http  # ours (see try_connect): python-engineio leaves it open
        if http is not None and not http.closed:
            await http.close()

    def _on_disconnect(self, reason: Any = None) -> None:
        self.disconnects.append(DisconnectInfo(str(reason), time.time(), time.perf_counter()))
        self._disconnected.set()

    # receiving ------------------------------------------------------------------------------

    def _make_catch_all(self, sio: InstrumentedClient) -> Callable[..., None]:
        def on_any(event: str, *args: Any) -> None:
            payload = args[0] if args else None
            received = ReceivedEvent(
                name=event,
                payload=payload,
                received_at=time.time(),
                received_perf=time.perf_counter(),
                wire_bytes=sio.last_wire_bytes,
                extra_args=tuple(args[1:]),
            )
            self.tracker.add(event, payload)
            for listener in self.listeners:
                listener.event_received(received)
            self._deliver(received)

        return on_any

    # sending --------------------------------------------------------------------------------

    async def request(self, event: str, payload: Any = None, timeout: float = 5.0) -> Ack:  # noqa: ASYNC109
        """Emit with an acknowledgement (TRN-5). A missing ack is an Ack with `timed_out`."""
        sio = self.socket
        if self.pacer is not None:
            await self.pacer.acquire()
        started = time.perf_counter()
        try:
            result = await sio.call(event, payload, timeout=timeout)
        except socketio.exceptions.TimeoutError:
            return Ack(event, None, time.perf_counter() - started, timed_out=True)
        except socketio.exceptions.BadNamespaceError:
            return Ack(event, None, time.perf_counter() - started, timed_out=True)
        raw = result[0] if isinstance(result, tuple) and result else result
        ack = Ack(event, raw, time.perf_counter() - started)
        for listener in self.listeners:
            listener.ack_received(ack)
        return ack

    async def emit(self, event: str, payload: Any = None) -> None:
        """Emit without an acknowledgement (the server processes it and does not reply)."""
        if self.pacer is not None:
            await self.pacer.acquire()
        await self.socket.emit(event, payload)

    async def sync(self, cursors: Mapping[str, int] | None = None, timeout: float = 5.0) -> Ack:  # noqa: ASYNC109
        """`sync` with the given cursors, or with every cursor the tracker holds (STR-2).

        Streams the ack reports as `reset` get their base moved to `head`: the caller should
        refetch them over REST (STR-3).
        """
        sent = dict(cursors) if cursors is not None else self.tracker.cursors()
        ack = await self.request(ClientEvent.SYNC, {"cursors": sent}, timeout=timeout)
        streams = ack.data.get("streams") if ack.ok else None
        if isinstance(streams, Mapping):
            for stream, entry in streams.items():
                if isinstance(entry, Mapping) and entry.get("reset") is True:
                    head = entry.get("head")
                    if isinstance(head, int):
                        self.tracker.set_base(stream, head)
        return ack

    async def start_from_heads(self, timeout: float = 5.0) -> Ack:  # noqa: ASYNC109
        """`sync` with `{}` and hold every stream from its current head (a fresh client)."""
        ack = await self.request(ClientEvent.SYNC, {"cursors": {}}, timeout=timeout)
        streams = ack.data.get("streams") if ack.ok else None
        if isinstance(streams, Mapping):
            for stream, entry in streams.items():
                head = entry.get("head") if isinstance(entry, Mapping) else None
                if isinstance(head, int):
                    self.tracker.set_base(stream, head)
        return ack

    def heartbeat_ms(self) -> tuple[int, int]:
        return self.socket.heartbeat_ms()

    def suppress_pongs(self) -> None:
        self.socket.suppress_pongs()

    async def __aenter__(self) -> RealtimeClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.disconnect()
