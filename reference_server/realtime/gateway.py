"""Socket.IO handlers: handshake auth (AUTH-1..3, LIM-3), one gate for every client event
(LIM-1, LIM-2, LIM-4, LIM-5) and the core events `auth:refresh`, `sync`, `mutate`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import socketio

from harness.spec import AUTH_MESSAGES, ClientEvent, ErrorCode, ServerEvent

from ..auth import AuthError, Verifier, token_from_handshake, verify_token
from ..config import ServerSettings
from ..domain.clock import Clock, iso_from_epoch
from ..domain.contracts import Actor, DomainError
from ..metrics import ServerMetrics
from ..shedding import LoadShedder
from ..state.base import ClusterState
from ..store.base import RecordStore, StoredEvent, StoreUnavailable
from ..transport_ports import Records, Redaction
from .acks import Ack, ack_error, ack_ok, validation_error
from .fanout import RedactingManager
from .limits import measure_payload
from .mutate import change_request_from_mutate, mutate_ack
from .session import SocketSession
from .sync import StreamReplayer

__all__ = ["RealtimeGateway"]

log = logging.getLogger(__name__)
_UNAVAILABLE_MESSAGE = "Service unavailable"  # the cluster state backend cannot be reached

EventHandler = Callable[[SocketSession, Any], Awaitable[Ack]]
# Called with the session and the user's socket count across the cluster after the change.
SessionListener = Callable[[SocketSession, int], Awaitable[None]]


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


class RealtimeGateway:
    def __init__(
        self,
        sio: socketio.AsyncServer,
        manager: RedactingManager,
        settings: ServerSettings,
        store: RecordStore,
        state: ClusterState,
        records: Callable[[], Records],
        redaction: Redaction,
        metrics: ServerMetrics,
        clock: Clock,
        verifier: Verifier,
        shedder: LoadShedder | None = None,
    ) -> None:
        self._sio = sio
        self._shedder = shedder or LoadShedder(settings.shedding)
        self._admitting = 0  # connects past the shedding check, not yet sessions
        self._verifier = verifier
        self._manager = manager
        self._settings = settings
        self._limits = settings.limits
        self._state = state
        self._records = records
        self._redaction = redaction
        self._metrics = metrics
        self._clock = clock
        self._replayer = StreamReplayer(store, settings.limits, clock.now)
        self.sessions: dict[str, SocketSession] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._handlers: dict[str, EventHandler] = {
            ClientEvent.AUTH_REFRESH: self._on_auth_refresh,
            ClientEvent.SYNC: self._on_sync,
            ClientEvent.MUTATE: self._on_mutate,
        }
        self._connected: list[SessionListener] = []
        self._disconnected: list[SessionListener] = []
        sio.on("connect", self._on_connect)
        sio.on("disconnect", self._on_disconnect)
        sio.on("*", self._on_any)

    # -- extension points (profiles collab, ai) -----------------------------------------------
    def add_handler(self, event: str, handler: EventHandler) -> None:
        """A client event beyond core; it passes the same gate (rate, size, acks)."""
        self._handlers[event] = handler

    def add_session_listeners(
        self, connected: SessionListener | None = None, disconnected: SessionListener | None = None
    ) -> None:
        self._connected.extend([connected] if connected else [])
        self._disconnected.extend([disconnected] if disconnected else [])

    async def _notify(
        self, listeners: list[SessionListener], session: SocketSession, n: int
    ) -> None:
        for listener in listeners:
            try:
                await listener(session, n)
            except Exception:  # a profile's failure must not break connecting or closing
                log.exception("session listener failed")

    # -- lifecycle ----------------------------------------------------------------------------
    def busy_refusal(self) -> int | None:
        """retryAfterMs when a new connect must be refused now (LIM-6; counted), else None.
        Also asked at the WebSocket handshake (`busy_handshake.py`), before Engine.IO."""
        retry_after_ms = self._shedder.refuse_connect(len(self.sessions) + self._admitting)
        if retry_after_ms is not None:
            self._metrics.refused_busy("connect")
        return retry_after_ms

    async def _on_connect(self, sid: str, environ: Mapping[str, Any], auth: Any = None) -> None:
        # LIM-6 first: a node past its budget spends nothing more on a socket it cannot hold.
        retry_after_ms = self.busy_refusal()
        if retry_after_ms is not None:
            code = ErrorCode.SERVER_BUSY
            raise socketio.exceptions.ConnectionRefusedError(
                AUTH_MESSAGES[code], {"code": code, "retryAfterMs": retry_after_ms}
            )
        self._admitting += 1
        try:
            await self._admit(sid, environ, auth)
        finally:
            self._admitting -= 1

    async def _admit(self, sid: str, environ: Mapping[str, Any], auth: Any) -> None:
        try:
            verified = await verify_token(
                token_from_handshake(auth, environ), self._verifier, self._clock.now()
            )
        except AuthError as exc:
            raise socketio.exceptions.ConnectionRefusedError(*exc.connect_error()) from None
        actor = verified.actor
        try:
            count = await self._state.add_connection(
                actor.user_id, sid, self._limits.maxConnectionsPerUser
            )
        except StoreUnavailable:
            # A node cut from its cluster state refuses at once rather than never answering.
            code = ErrorCode.INTERNAL
            raise socketio.exceptions.ConnectionRefusedError(
                _UNAVAILABLE_MESSAGE, {"code": code}
            ) from None
        if count is None:
            code = ErrorCode.TOO_MANY_CONNECTIONS
            raise socketio.exceptions.ConnectionRefusedError(AUTH_MESSAGES[code], {"code": code})
        try:
            for room in actor.streams:
                await self._sio.enter_room(sid, room)
        except BaseException:
            await self._state.remove_connection(actor.user_id, sid)  # never leak the slot
            raise
        self._manager.bind_user(sid, actor.user_id)
        session = SocketSession.start(sid, actor, verified.exp, self._limits, self._clock.now())
        self.sessions[sid] = session
        self._schedule_expiry(session)
        self._metrics.connections.inc()
        await self._notify(self._connected, session, count)

    async def _on_disconnect(self, sid: str, reason: Any = None) -> None:
        session = self.sessions.pop(sid, None)
        if session is None:
            return
        session.closed = True
        session.cancel_expiry()
        self._manager.unbind_user(sid)
        self._metrics.connections.dec()
        remaining = await self._state.remove_connection(session.actor.user_id, sid)
        await self._notify(self._disconnected, session, remaining)

    def _schedule_expiry(self, session: SocketSession) -> None:
        session.cancel_expiry()
        session.expiry_task = asyncio.create_task(self._expire(session.sid, session.exp))

    async def _expire(self, sid: str, exp: float) -> None:
        """AUTH-3: `session:expired` then disconnect, within 2 s after `exp`."""
        await asyncio.sleep(max(0.0, exp - self._clock.now()))
        session = self.sessions.get(sid)
        if session is not None:
            # From here the disconnect handler must not cancel this task: it runs the disconnect.
            session.expiry_task = None
        await self.emit_to(sid, ServerEvent.SESSION_EXPIRED, {"code": ErrorCode.AUTH_EXPIRED.value})
        await self._sio.disconnect(sid)

    async def emit_to(self, sid: str, event: str, payload: Mapping[str, Any]) -> None:
        """One socket on this node; `timestamp` added when missing (TRN-4)."""
        data = dict(payload)
        data.setdefault("timestamp", iso_from_epoch(self._clock.now()))
        await self._sio.emit(event, data, to=sid, ignore_queue=True)
        self._metrics.emitted(event)

    # -- the gate every client event passes ---------------------------------------------------
    async def _on_any(self, event: str, sid: str, *args: Any) -> Ack:
        session = self.sessions.get(sid)
        if session is None:  # a late event from a socket being torn down
            return ack_error(
                DomainError(ErrorCode.AUTH_REQUIRED, AUTH_MESSAGES[ErrorCode.AUTH_REQUIRED])
            )
        self._metrics.received(event)
        now = self._clock.now()
        retry_after_ms = session.bucket.take(now)
        if retry_after_ms is not None:
            return await self._refuse_rate(session, now, retry_after_ms)
        measured = measure_payload(args)
        if measured.size > self._limits.maxPayloadBytes:
            return ack_error(DomainError(
                ErrorCode.PAYLOAD_TOO_LARGE, "event payload is over maxPayloadBytes",
                {"maxPayloadBytes": self._limits.maxPayloadBytes},
            ))  # fmt: skip
        handler = self._handlers.get(event)
        if handler is None:
            return ack_error(
                DomainError(ErrorCode.UNKNOWN_EVENT, "unknown event", {"event": event})
            )
        if measured.binary:
            return ack_error(validation_error("binary data is not accepted; send JSON"))
        payload = args[0] if len(args) == 1 else (list(args) if args else None)
        try:
            return await handler(session, payload)
        except DomainError as exc:
            return ack_error(exc)
        except Exception:
            log.exception("%s failed", event)
            return ack_error(DomainError(ErrorCode.INTERNAL, "internal error"))

    async def _refuse_rate(self, session: SocketSession, now: float, retry_after_ms: int) -> Ack:
        self._metrics.rate_limited.inc()
        message = "rate limit exceeded"
        if now - session.last_server_error_at >= 1.0:
            session.last_server_error_at = now
            await self.emit_to(session.sid, ServerEvent.SERVER_ERROR, {
                "code": ErrorCode.RATE_LIMITED.value, "message": message,
                "retryAfterMs": retry_after_ms,
            })  # fmt: skip
        if session.flood.refuse(now):
            # LIM-2: drop the socket once this ack is on its way. The loop keeps only weak
            # references to tasks, so hold this one until it is done.
            task = asyncio.create_task(self._drop_later(session.sid))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        return ack_error(
            DomainError(ErrorCode.RATE_LIMITED, message, {"retryAfterMs": retry_after_ms})
        )

    async def _drop_later(self, sid: str) -> None:
        await asyncio.sleep(0)
        await self._sio.disconnect(sid)

    # -- core events --------------------------------------------------------------------------
    async def _on_auth_refresh(self, session: SocketSession, payload: Any) -> Ack:
        token = payload.get("token") if isinstance(payload, Mapping) else None
        if not isinstance(token, str):
            raise validation_error("auth:refresh needs a string token", "token")
        try:
            verified = await verify_token(token, self._verifier, self._clock.now())
        except AuthError as exc:
            raise DomainError(exc.code, exc.message) from None
        old, new = session.actor, verified.actor
        if (old.user_id, old.team_id, old.broker_id) != (new.user_id, new.team_id, new.broker_id):
            raise DomainError(ErrorCode.AUTH_INVALID, AUTH_MESSAGES[ErrorCode.AUTH_INVALID])
        session.actor = new
        session.exp = verified.exp
        self._schedule_expiry(session)
        return ack_ok(exp=_number(verified.exp))

    async def _on_sync(self, session: SocketSession, payload: Any) -> Ack:
        viewer = session.actor.user_id

        async def send(event: StoredEvent) -> None:
            await self._sio.emit(
                event.name, self._redaction.event_for(viewer, event), to=session.sid,
                ignore_queue=True,
            )  # fmt: skip

        def covered(heads: dict[str, int]) -> None:
            # Live copies of what this replay covers would be duplicates (realtime.fanout).
            self._manager.note_synced(session.sid, heads)

        ack, replayed = await self._replayer.sync(session.actor, payload, send, covered)
        if replayed:
            self._metrics.replayed_events.inc(replayed)
        return ack

    async def _on_mutate(self, session: SocketSession, payload: Any) -> Ack:
        actor: Actor = session.actor
        request = change_request_from_mutate(payload)
        outcome = await self._records().change(actor, request)
        return mutate_ack(actor, request, outcome, self._redaction)
