"""Faults of profile `core` at the edges (§1–§3, §9) and of `metrics` (§12): transport, info,
authentication, limits and bad input, the metrics endpoint. Each breaks one requirement the
way a plausible server bug would.

Installed by `fault_server.py`; `fault_switch.broken` decides on every call whether a fault is
on. The data-path faults (records, events, redaction, streams, mutations) are in `core_faults`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from engineio import packet as eio_packet
from engineio.async_socket import AsyncSocket
from fault_switch import Method, broken, patch

from harness.spec import AUTH_MESSAGES, ErrorCode, Heartbeat, Limits
from reference_server import auth
from reference_server.domain.contracts import DomainError
from reference_server.metrics import ServerMetrics
from reference_server.realtime import gateway as gateway_module
from reference_server.realtime.acks import ack_ok
from reference_server.realtime.gateway import RealtimeGateway
from reference_server.realtime.limits import FloodCounter, PayloadMeasure, TokenBucket
from reference_server.realtime.session import SocketSession
from reference_server.rest import app_state as rest_app_state
from reference_server.state.memory import MemoryClusterState

__all__ = ["FAULTS", "install"]

FAULTS: dict[str, str] = {
    "TRN-1": "the Engine.IO open packet lacks `upgrades`",
    "TRN-2": "the websocket transport is refused",
    "TRN-3": "the info document advertises a pingInterval 1 s longer than Engine.IO's",
    "TRN-3/silent": "Engine.IO times silent clients out after an hour, announcing the set value",
    "TRN-4": "event timestamps have no milliseconds",
    "TRN-5": "a refusal's ack is flat: {ok: false, code, message}",
    "INF-1": "the info document's limits lack burst",
    "INF-2": "the token bucket holds half the advertised burst",
    "INF-2/connections": "one connection per user fewer than advertised is accepted",
    "INF-2/payload": "payloads over half the advertised maxPayloadBytes are refused",
    "INF-3": "/healthz answers 503 although the node serves",
    "AUTH-1": "the handshake's Authorization header is ignored",
    "AUTH-2": "an expired token is accepted",
    "AUTH-3": "sessions never expire",
    "AUTH-4": "auth:refresh compares only sub, so a token of another team is taken",
    "LIM-1": "no rate limit",
    "LIM-1/per-user": "the token bucket is per user: one socket's burst limits the others",
    "LIM-1/server-error": "server:error is sent for every refusal, not at most once a second",
    "LIM-2": "a flooding socket is never disconnected",
    "LIM-3": "no connection limit per user",
    "LIM-4": "the payload size is not checked",
    "LIM-5": "a mutate payload that is not an object is an INTERNAL error",
    "MET-1": "crm_realtime_replayed_events_total is not exported",
    # A node that under-reports: on a cluster only the sum over every node shows it (the
    # single-node check may read another node); tests/faults/test_cluster_metrics_fault.py.
    "MET-1/under-report": "the node exports a registry nothing counts into: every figure stays 0",
}


def _transport_faults() -> None:
    class SwitchableTransports(list[str]):
        """Engine.IO's allowed transports, without websocket while TRN-2 is broken."""

        def __contains__(self, transport: object) -> bool:
            if broken("TRN-2") and transport == "websocket":
                return False
            return list.__contains__(self, transport)

    def capture(orig: Any) -> Any:
        def patched(self: RealtimeGateway, sio: Any, *rest: Any) -> None:
            orig(self, sio, *rest)
            sio.eio.transports = SwitchableTransports(sio.eio.transports)
            _lenient(sio.eio)

        return patched

    def announcing(orig: Method) -> Method:
        async def patched(self: AsyncSocket, pkt: Any) -> None:
            if broken("TRN-3/silent") and pkt.packet_type == eio_packet.OPEN:
                real_s = self.server.__dict__[_REAL_PING_TIMEOUT]
                pkt.data = {**pkt.data, "pingTimeout": int(real_s * 1000)}
            if broken("TRN-1") and pkt.packet_type == eio_packet.OPEN:
                pkt.data = {k: v for k, v in pkt.data.items() if k != "upgrades"}
            await orig(self, pkt)

        return patched

    def heartbeat_json(orig: Any) -> Any:
        def patched(self: Heartbeat) -> dict[str, int]:
            shown = dict(orig(self))
            if broken("TRN-3"):
                shown["pingInterval"] += 1000
            return shown

        return patched

    def wire(orig: Any) -> Any:
        def patched(self: Any) -> dict[str, Any]:
            payload = dict(orig(self))
            stamp = payload.get("timestamp")
            if broken("TRN-4") and isinstance(stamp, str) and "." in stamp:
                payload["timestamp"] = stamp.split(".", 1)[0] + "Z"
            return payload

        return patched

    original_ack_error = gateway_module.ack_error

    def ack_error(error: DomainError) -> dict[str, Any]:
        if broken("TRN-5"):
            return {"ok": False, "code": error.code.value, "message": error.message}
        return original_ack_error(error)

    from reference_server.store.base import StoredEvent

    patch(AsyncSocket, "send", announcing)

    patch(RealtimeGateway, "__init__", capture)
    patch(Heartbeat, "to_json", heartbeat_json)
    patch(StoredEvent, "wire", wire)
    gateway_module.ack_error = ack_error


_REAL_PING_TIMEOUT = "real_ping_timeout"
_NEVER_S = 3600.0


def _lenient(eio: Any) -> None:
    """Engine.IO's ping timeout (its ping check and its WebSocket read timeout both read it)
    becomes an hour while TRN-3/silent is broken."""
    eio.__dict__[_REAL_PING_TIMEOUT] = eio.ping_timeout

    class Lenient(type(eio)):  # type: ignore[misc]
        @property
        def ping_timeout(self) -> float:
            real: float = self.__dict__[_REAL_PING_TIMEOUT]
            return _NEVER_S if broken("TRN-3/silent") else real

    eio.__class__ = Lenient


def _info_faults() -> None:
    def limits_json(orig: Any) -> Any:
        def patched(self: Limits) -> dict[str, Any]:
            shown = dict(orig(self))
            if broken("INF-1"):
                shown.pop("burst", None)
            return shown

        return patched

    buckets: dict[str, TokenBucket] = {}  # LIM-1/per-user: one bucket shared by a user

    def start(orig: Any) -> Any:
        def patched(sid: str, actor: Any, exp: float, limits: Limits, now: float) -> Any:
            if broken("INF-2"):
                limits = dataclasses.replace(limits, burst=max(1, limits.burst // 2))
            session = orig(sid, actor, exp, limits, now)
            if broken("LIM-1/per-user"):
                session.bucket = buckets.setdefault(actor.user_id, session.bucket)
            return session

        return staticmethod(patched)

    def ping(orig: Method) -> Method:
        async def patched(self: MemoryClusterState) -> bool:
            return False if broken("INF-3") else bool(await orig(self))

        return patched

    patch(Limits, "to_json", limits_json)
    SocketSession.start = start(SocketSession.start)  # type: ignore[method-assign]
    patch(MemoryClusterState, "ping", ping)


def _auth_faults() -> None:
    original_from_handshake = gateway_module.token_from_handshake

    def token_from_handshake(auth_data: object, environ: Mapping[str, Any]) -> str | None:
        if broken("AUTH-1"):
            environ = {k: v for k, v in environ.items() if k != "HTTP_AUTHORIZATION"}
        return original_from_handshake(auth_data, environ)

    original_verify = auth.verify_token

    async def verify_token(
        token: str | None, verifier: auth.Verifier, now: float
    ) -> auth.VerifiedToken:
        try:
            return await original_verify(token, verifier, now)
        except auth.AuthError as exc:
            if not broken("AUTH-2") or exc.code is not ErrorCode.AUTH_EXPIRED:
                raise
            verified = await original_verify(token, verifier, 0.0)  # exp compared with the epoch
            return auth.VerifiedToken(verified.actor, now + 3600)

    def no_expiry(orig: Any) -> Any:
        def patched(self: RealtimeGateway, session: SocketSession) -> None:
            if broken("AUTH-3"):
                session.cancel_expiry()
                return
            orig(self, session)

        return patched

    def refresh(orig: Method) -> Method:
        async def patched(self: RealtimeGateway, session: SocketSession, payload: Any) -> Any:
            token = payload.get("token") if isinstance(payload, Mapping) else None
            if not broken("AUTH-4") or not isinstance(token, str):
                return await orig(self, session, payload)
            try:
                verified = await verify_token(token, self._verifier, self._clock.now())
            except auth.AuthError as exc:
                raise DomainError(exc.code, exc.message) from None
            if verified.actor.user_id != session.actor.user_id:
                raise DomainError(ErrorCode.AUTH_INVALID, AUTH_MESSAGES[ErrorCode.AUTH_INVALID])
            session.actor, session.exp = verified.actor, verified.exp
            self._schedule_expiry(session)
            return ack_ok(exp=verified.exp)

        return patched

    gateway_module.token_from_handshake = token_from_handshake  # type: ignore[assignment]
    gateway_module.verify_token = verify_token
    rest_app_state.verify_token = verify_token
    patch(RealtimeGateway, "_schedule_expiry", no_expiry)
    patch(RealtimeGateway, "_on_auth_refresh", refresh)


def _limit_faults() -> None:
    def take(orig: Any) -> Any:
        def patched(self: TokenBucket, now: float) -> int | None:
            return None if broken("LIM-1") else orig(self, now)

        return patched

    def refuse(orig: Any) -> Any:
        def patched(self: FloodCounter, now: float) -> bool:
            over = orig(self, now)
            return False if broken("LIM-2") else bool(over)

        return patched

    def connections(orig: Method) -> Method:
        async def patched(self: MemoryClusterState, user_id: str, sid: str, limit: int) -> Any:
            if broken("INF-2/connections"):
                limit -= 1
            return await orig(self, user_id, sid, 10**6 if broken("LIM-3") else limit)

        return patched

    original_measure = gateway_module.measure_payload

    def measure_payload(args: tuple[Any, ...]) -> PayloadMeasure:
        measured = original_measure(args)
        if broken("INF-2/payload"):
            return PayloadMeasure(measured.size * 2, measured.binary)
        return PayloadMeasure(0, measured.binary) if broken("LIM-4") else measured

    original_from_mutate = gateway_module.change_request_from_mutate

    def change_request_from_mutate(payload: Any) -> Any:
        if broken("LIM-5") and not isinstance(payload, Mapping):
            raise TypeError("payload.get on a non-object")  # the INTERNAL path
        return original_from_mutate(payload)

    def every_refusal(orig: Method) -> Method:
        async def patched(self: RealtimeGateway, session: SocketSession, *rest: Any) -> Any:
            if broken("LIM-1/server-error"):
                session.last_server_error_at = float("-inf")
            return await orig(self, session, *rest)

        return patched

    patch(TokenBucket, "take", take)
    patch(RealtimeGateway, "_refuse_rate", every_refusal)
    patch(FloodCounter, "refuse", refuse)
    patch(MemoryClusterState, "add_connection", connections)
    gateway_module.measure_payload = measure_payload
    gateway_module.change_request_from_mutate = change_request_from_mutate


def _metrics_faults() -> None:
    def exposition(orig: Any) -> Any:
        def patched(self: ServerMetrics) -> bytes:
            if broken("MET-1/under-report"):
                return orig(ServerMetrics())
            text: bytes = orig(self)
            if not broken("MET-1"):
                return text
            lines = text.splitlines(keepends=True)
            return b"".join(line for line in lines if b"crm_realtime_replayed_events" not in line)

        return patched

    patch(ServerMetrics, "exposition", exposition)


def install() -> None:
    _transport_faults()
    _info_faults()
    _auth_faults()
    _limit_faults()
    _metrics_faults()
