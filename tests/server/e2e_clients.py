"""Helpers for the reference server's end-to-end tests: sockets with an inbox, REST calls."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

import httpx
import socketio
from aiohttp import web

from harness.client import Agent, TokenFactory
from harness.spec import API_PREFIX, COLLECTIONS

__all__ = ["Live", "Target", "connect", "connect_refusal", "serve_on_aiohttp", "wait_until"]


async def wait_until(predicate: Callable[[], bool], within: float = 5.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.02)
    return predicate()


async def serve_on_aiohttp(
    stack: AsyncExitStack, sio: socketio.AsyncServer, socketio_path: str = "socket.io"
) -> int:
    """Serve `sio` alone on a loopback port (stopped when `stack` closes); the port."""
    app = web.Application()
    sio.attach(app, socketio_path=socketio_path)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    stack.push_async_callback(runner.cleanup)
    return int(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]


@dataclass
class Live:
    """A connected python-socketio client that records every server→client event."""

    client: socketio.AsyncClient
    events: list[tuple[str, Any]] = field(default_factory=list)
    disconnected_at: float | None = None

    def of(self, name: str) -> list[Any]:
        return [data for event, data in self.events if event == name]

    async def call(self, event: str, data: Any = None, within: float = 5.0) -> Any:
        return await self.client.call(event, data, timeout=within)

    async def wait_for(self, name: str, count: int = 1, within: float = 5.0) -> list[Any]:
        await wait_until(lambda: len(self.of(name)) >= count, within)
        return self.of(name)

    async def close(self) -> None:
        if self.client.connected:
            await self.client.disconnect()


async def connect(
    url: str,
    token: str | None = None,
    *,
    headers: Mapping[str, str] | None = None,
    transports: list[str] | None = None,
) -> Live:
    client = socketio.AsyncClient(reconnection=False)
    live = Live(client)

    async def on_any(event: str, data: Any = None) -> None:
        live.events.append((event, data))

    def on_disconnect(*_: Any) -> None:
        live.disconnected_at = time.monotonic()

    client.on("*", on_any)
    client.on("disconnect", on_disconnect)
    await client.connect(
        url,
        auth={"token": token} if token is not None else None,
        headers=dict(headers or {}),
        transports=transports or ["websocket"],
        wait_timeout=5,
    )
    return live


async def connect_refusal(
    url: str, auth: Any = None, headers: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The CONNECT_ERROR payload of a refused connection (`{}` if it was accepted)."""
    client = socketio.AsyncClient(reconnection=False)
    refusal: dict[str, Any] = {}

    def on_connect_error(data: Any = None) -> None:
        refusal.update(data if isinstance(data, dict) else {"raw": data})

    client.on("connect_error", on_connect_error)
    try:
        await client.connect(
            url, auth=auth, headers=dict(headers or {}), transports=["websocket"], wait_timeout=5
        )
    except socketio.exceptions.ConnectionError:
        return refusal
    await client.disconnect()
    return {}


@dataclass
class Target:
    """The server under test and a token factory for its secret."""

    url: str
    tokens: TokenFactory

    def token(self, agent: Agent, **kwargs: Any) -> str:
        return self.tokens.mint(agent, **kwargs)

    def headers(self, agent: Agent, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(agent)}", **extra}

    def http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, timeout=10)

    @staticmethod
    def collection(entity_type: str) -> str:
        return f"{API_PREFIX}/{COLLECTIONS[entity_type]}"

    async def create(
        self, http: httpx.AsyncClient, agent: Agent, entity_type: str, body: Mapping[str, Any]
    ) -> dict[str, Any]:
        response = await http.post(
            self.collection(entity_type), json=dict(body), headers=self.headers(agent)
        )
        assert response.status_code == 201, response.text
        record: dict[str, Any] = response.json()["data"]
        return record

    async def live(self, agent: Agent, **kwargs: Any) -> Live:
        return await connect(self.url, self.token(agent), **kwargs)
