"""A tiny python-socketio + aiohttp server for the client library's own tests.

It speaks just enough of the spec: token in `auth.token` or the Authorization header,
AUTH-2 style refusals, `sync` replaying a scripted stream, `mutate` with idempotency by
`mutationId`, and an `echo` event. It is NOT a conforming server.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import socketio
from aiohttp import web

__all__ = ["FakeServer", "running_fake_server"]

GOOD_TOKEN = "good-token"
STREAM = "team:t1"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class FakeServer:
    url: str
    sio: socketio.AsyncServer
    log: list[dict[str, Any]] = field(default_factory=list)  # the stream's events, seq 1..n
    applied: dict[str, dict[str, Any]] = field(default_factory=dict)  # mutationId -> result
    apply_count: int = 0

    def event(self, seq: int) -> dict[str, Any]:
        return {"eventId": f"ev-{seq}", "stream": STREAM, "seq": seq, "value": seq}

    async def publish(self, count: int) -> None:
        for _ in range(count):
            payload = self.event(len(self.log) + 1)
            self.log.append(payload)
            await self.sio.emit("escrow:updated", payload)


def _build(port: int) -> tuple[web.Application, FakeServer]:
    sio = socketio.AsyncServer(async_mode="aiohttp", ping_interval=1, ping_timeout=1)
    app = web.Application()
    sio.attach(app)
    server = FakeServer(f"http://127.0.0.1:{port}", sio)

    @sio.event
    async def connect(sid: str, environ: dict[str, Any], auth: Any) -> None:
        token = auth.get("token") if isinstance(auth, dict) else None
        header = environ.get("HTTP_AUTHORIZATION", "")
        token = token or (header[7:] if header.startswith("Bearer ") else None)
        if not token:
            raise socketio.exceptions.ConnectionRefusedError(
                "Authentication required", {"code": "AUTH_REQUIRED"}
            )
        if token != GOOD_TOKEN:
            raise socketio.exceptions.ConnectionRefusedError(
                "Invalid token", {"code": "AUTH_INVALID"}
            )

    @sio.on("echo")
    async def echo(sid: str, payload: Any) -> dict[str, Any]:
        await sio.emit("echoed", {"payload": payload}, to=sid)
        return {"ok": True, "payload": payload}

    @sio.on("sync")
    async def sync(sid: str, payload: Any) -> dict[str, Any]:
        cursor = payload["cursors"].get(STREAM, 0)
        missed = [e for e in server.log if e["seq"] > cursor]
        for event in missed:
            await sio.emit("escrow:updated", event, to=sid)
        head = len(server.log)
        return {"ok": True, "streams": {STREAM: {"head": head, "replayed": len(missed)}}}

    @sio.on("mutate")
    async def mutate(sid: str, payload: Any) -> dict[str, Any]:
        key = payload["mutationId"]
        if key in server.applied:
            return {"ok": True, "data": server.applied[key], "duplicate": True}
        server.apply_count += 1
        record = {"id": payload.get("id", f"r-{server.apply_count}"), "op": payload["op"]}
        server.applied[key] = record
        return {"ok": True, "data": record, "duplicate": False}

    @sio.on("refuse")
    async def refuse(sid: str, payload: Any) -> dict[str, Any]:
        return {"ok": False, "error": {"code": "VALIDATION_ERROR", "message": "no"}}

    @sio.on("kick")
    async def kick(sid: str, payload: Any) -> None:
        await sio.disconnect(sid)

    return app, server


@asynccontextmanager
async def running_fake_server() -> AsyncIterator[FakeServer]:
    port = _free_port()
    app, server = _build(port)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        yield server
    finally:
        await runner.cleanup()
