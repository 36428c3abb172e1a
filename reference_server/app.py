"""`build_app`: Socket.IO and the REST API on one ASGI app, one port (TRN-1).

Backends arrive already chosen (`backends.open_backends` picks them by URL); nothing here
branches on which store or state it was given.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import socketio
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp

from harness.spec import SOCKETIO_PATH, Limits, Profile

from .auth import Verifier, verifier_for
from .collab.wiring import install_extra_profiles
from .config import ServerSettings, engineio_heartbeat
from .domain.clock import Clock, SystemClock
from .domain.contracts import EventPublisher
from .domain.redaction import event_variants
from .domain.upkeep import DEFAULT_PURGE_INTERVAL_SECONDS, KeyPurger
from .loop_lag import LoopLag
from .metrics import ServerMetrics
from .realtime.busy_handshake import BusyHandshake, EngineOpen
from .realtime.fanout import RedactingManager, SocketPublisher
from .realtime.gateway import RealtimeGateway
from .realtime.gc_policy import GcPolicy
from .realtime.heartbeat import SweepingServer
from .realtime.loop_health import LoopHealth
from .realtime.outbox import OutboxRelay, OutboxTimings
from .realtime.redis_fanout import start_listening
from .rest import errors, info
from .rest import records as record_routes
from .rest.app_state import AppContext
from .rest.body_limit import BodyLimitMiddleware
from .rest.busy import BusyMiddleware
from .shedding import LoadShedder
from .state.base import ClusterState
from .store.base import RecordStore
from .transport_ports import Records, Redaction

__all__ = ["IMPLEMENTED_PROFILES", "RecordsFactory", "ServerApp", "build_app"]

# Only what this server really implements is advertised (INF-1, INF-2).
IMPLEMENTED_PROFILES: tuple[Profile, ...] = (Profile.CORE, Profile.METRICS)

RecordsFactory = Callable[[RecordStore, ClusterState, EventPublisher, Limits, Clock], Records]

# Engine.IO refuses whole HTTP bodies/frames above this; keep it well above maxPayloadBytes so
# the spec's own check answers PAYLOAD_TOO_LARGE (LIM-4) instead of a dropped connection.
_MIN_TRANSPORT_BUFFER = 1_000_000


def _default_records(
    store: RecordStore, state: ClusterState, publisher: EventPublisher, limits: Limits, clock: Clock
) -> Records:
    from .collab import CollabRecordService  # RecordService + COL-7 notifications

    service: Records = CollabRecordService(store, state, publisher, limits, clock)
    return service


def _purge_interval_s(limits: Limits) -> float:
    return min(DEFAULT_PURGE_INTERVAL_SECONDS, max(1.0, float(limits.idempotencyTtlSeconds)))


def _default_redaction() -> Redaction:
    from .redaction_adapter import DomainRedaction

    return DomainRedaction()


class ServerApp:
    """The ASGI app plus handles tests and the cluster work reach for."""

    def __init__(self, asgi: ASGIApp, sio: socketio.AsyncServer, ctx: AppContext,
                 gateway: RealtimeGateway, publisher: SocketPublisher,
                 outbox: OutboxRelay | None = None,
                 shedder: LoadShedder | None = None) -> None:  # fmt: skip
        self.asgi = asgi
        self.sio = sio
        self.ctx = ctx
        self.gateway = gateway
        self.publisher = publisher
        self.outbox = outbox
        self.shedder = shedder or LoadShedder(ctx.settings.shedding)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.asgi(scope, receive, send)


def build_app(
    settings: ServerSettings,
    store: RecordStore,
    state: ClusterState,
    *,
    manager: RedactingManager | None = None,
    records_factory: RecordsFactory = _default_records,
    redaction: Redaction | None = None,
    clock: Clock | None = None,
    verifier: Verifier | None = None,
    outbox: OutboxTimings | None = None,
) -> ServerApp:
    """`manager` lets the cluster work pass a pub/sub RedactingManager (e.g. on Redis);
    `verifier` the token keys (default: the ones `settings` name, opened in the lifespan);
    `outbox` (a cluster node whose store keeps an outbox) runs the outbox relay and publishes
    this node's events through it (`realtime.outbox`)."""
    clock = clock or SystemClock()
    verifier = verifier or verifier_for(settings)
    redaction = redaction or _default_redaction()
    metrics = ServerMetrics()
    manager = manager or RedactingManager()
    limits = settings.limits
    ping_interval_s, ping_timeout_s = engineio_heartbeat(settings.heartbeat)
    loop_lag = LoopLag()  # shedding and the heartbeat's ping checks read it
    sio = SweepingServer(
        loop_lag=loop_lag,
        async_mode="asgi",
        client_manager=manager,
        cors_allowed_origins="*",
        ping_interval=ping_interval_s,  # engineio takes seconds (TRN-3)
        ping_timeout=ping_timeout_s,
        max_http_buffer_size=max(_MIN_TRANSPORT_BUFFER, 4 * limits.maxPayloadBytes),
        logger=False,
        engineio_logger=False,
    )
    publisher = SocketPublisher(sio, event_variants, on_emit=metrics.emitted)
    relay = None
    if outbox is not None:
        relay = OutboxRelay(store, state, publisher, outbox, now=clock.now,
                            on_recovered=metrics.outbox_recovered.inc)  # fmt: skip
    events: EventPublisher = relay or publisher
    service: list[Records] = []

    def records() -> Records:
        if not service:
            service.append(records_factory(store, state, events, limits, clock))
        return service[0]

    ctx = AppContext(settings, store, state, records, redaction, metrics, clock,
                     IMPLEMENTED_PROFILES, verifier)  # fmt: skip
    shedder = LoadShedder(settings.shedding, loop_lag=loop_lag)
    metrics.loop_lag.set_function(lambda: loop_lag.worst_ms(1.0) / 1000.0)
    gateway = RealtimeGateway(sio, manager, settings, store, state, records, redaction, metrics,
                              clock, verifier, shedder)  # fmt: skip

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        health = LoopHealth.from_env()  # profiling aid, off unless asked for
        if health is not None:
            health.start()
        gc_policy = GcPolicy()  # full collections walked every socket: 0.2-0.5 s stalls
        gc_policy.start()
        loop_lag.start()
        try:
            async with _serving():
                yield
        finally:
            await loop_lag.stop()
            await gc_policy.stop()
            if health is not None:
                await health.stop()

    @asynccontextmanager
    async def _serving() -> AsyncIterator[None]:
        await verifier.open()  # a no-op when the runner opened it already
        try:
            async with _backends():
                yield
        finally:
            await verifier.close()

    @asynccontextmanager
    async def _backends() -> AsyncIterator[None]:
        await store.open()
        try:
            await state.open()
            try:
                await start_listening(sio)  # a cluster node hears the others before it serves
                records()  # fail at startup, not on the first request, if the domain is missing
                await extra.start(records())
                # Expired idempotency keys no longer count (MUT-2); forget them so the key
                # table stays bounded. No sooner than they can expire, at least every 10 min.
                purger = KeyPurger(records(), _purge_interval_s(limits))
                purger.start()
                if relay is not None:
                    await relay.start()
                try:
                    yield
                finally:
                    if relay is not None:
                        await relay.stop()
                    await purger.stop()
                    await extra.stop()
            finally:
                await state.close()
        finally:
            await store.close()

    api = FastAPI(lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    api.state.ctx = ctx
    errors.install_error_handlers(api)
    api.include_router(info.router)
    extra = install_extra_profiles(api, sio, gateway, ctx, events)  # collab, ai: before records
    api.include_router(record_routes.router)
    api.add_middleware(BodyLimitMiddleware, max_bytes=limits.maxPayloadBytes)
    api.add_middleware(BusyMiddleware, shedder=shedder, metrics=metrics)  # LIM-6, before all
    api.add_middleware(CORSMiddleware, allow_origins=["*"], allow_methods=["*"],
                       allow_headers=["*"],
                       expose_headers=["Idempotent-Replayed", "Retry-After"])  # fmt: skip
    asgi = socketio.ASGIApp(sio, other_asgi_app=api, socketio_path=SOCKETIO_PATH.strip("/"))
    # LIM-6: a WebSocket connect past the budget is refused before Engine.IO sets it up.
    busy = BusyHandshake(asgi, gateway.busy_refusal, EngineOpen.of(sio.eio), SOCKETIO_PATH)
    return ServerApp(busy, sio, ctx, gateway, publisher, relay, shedder)
