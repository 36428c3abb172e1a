"""Transport and discovery end to end: TRN-1..5, INF-1..3."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import aiohttp
import httpx
from e2e_clients import Target, connect

from harness.client import Org
from harness.spec import (
    HEALTH_PATH,
    INFO_PATH,
    SENSITIVE_FIELDS,
    SOCKETIO_PATH,
    SPEC_VERSION,
    ClientEvent,
    ErrorCode,
)
from reference_server.app import build_app
from reference_server.config import ServerSettings
from reference_server.state.memory import MemoryClusterState

TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


async def _info(target: Target) -> dict[str, Any]:
    async with target.http() as http:
        response = await http.get(INFO_PATH)
    assert response.status_code == 200
    info: dict[str, Any] = response.json()
    return info


async def test_info_document_shape(target: Target) -> None:
    """INF-1, INF-2: exact keys, the profiles really implemented, configured limits."""
    info = await _info(target)
    assert set(info) == {
        "specVersion", "server", "node", "profiles", "heartbeat", "limits", "sensitiveFields",
        "auth",
    }  # fmt: skip
    assert info["specVersion"] == SPEC_VERSION
    assert re.fullmatch(r"[^/]+/[^/]+", info["server"])
    assert info["node"] == "node-1"
    assert info["profiles"] == ["core", "collab", "ai", "metrics"]
    assert info["heartbeat"] == {"pingInterval": 1000, "pingTimeout": 1000}
    assert info["limits"]["floodDisconnectThreshold"] == 30  # what the fixture configured
    assert info["limits"]["maxPayloadBytes"] == 65536
    assert info["sensitiveFields"] == {t: list(f) for t, f in SENSITIVE_FIELDS.items()}


async def test_healthz_ok(target: Target) -> None:
    """INF-3: 200 {"status": "ok"} while the node can serve."""
    async with target.http() as http:
        response = await http.get(HEALTH_PATH)
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


class _DeadStore:
    async def ping(self) -> bool:
        raise ConnectionError("database is gone")


async def test_healthz_503_when_store_fails() -> None:
    """INF-3: a store whose ping fails makes /healthz answer 503."""
    app = build_app(ServerSettings(), _DeadStore(), MemoryClusterState())  # type: ignore[arg-type]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        response = await http.get(HEALTH_PATH)
    assert response.status_code == 503


async def test_engineio_v4_handshake_and_heartbeat(target: Target, org: Org) -> None:
    """TRN-1, TRN-3: EIO v4 on /socket.io/ with the advertised ping settings; a client that
    never answers a ping is dropped within pingInterval + pingTimeout + 2000 ms."""
    info = await _info(target)
    ws_url = target.url.replace("http", "ws") + f"{SOCKETIO_PATH}?EIO=4&transport=websocket"
    async with aiohttp.ClientSession() as session, session.ws_connect(ws_url) as ws:
        opened = time.monotonic()
        first = await ws.receive_str(timeout=5)
        assert first.startswith("0")
        handshake = json.loads(first[1:])
        assert handshake["pingInterval"] == info["heartbeat"]["pingInterval"]
        assert handshake["pingTimeout"] == info["heartbeat"]["pingTimeout"]
        await ws.send_str("40" + json.dumps({"token": target.token(org.agent())}))
        connected = await ws.receive_str(timeout=5)
        assert connected.startswith("40") and "sid" in connected
        pings = 0
        async for message in ws:  # never answer: the server must give up on us
            if message.type == aiohttp.WSMsgType.TEXT and message.data == "2":
                pings += 1
        closed_after_ms = (time.monotonic() - opened) * 1000
    budget = info["heartbeat"]["pingInterval"] + info["heartbeat"]["pingTimeout"] + 2000
    assert pings >= 1
    assert closed_after_ms <= budget


async def test_polling_transport_and_ack_shapes(target: Target, org: Org) -> None:
    """TRN-2, TRN-5: polling works too; acks are {"ok": true, ...} or {"ok": false, "error"}."""
    live = await connect(target.url, target.token(org.agent()), transports=["polling"])
    try:
        ok = await live.call(ClientEvent.SYNC, {"cursors": {}})
        assert ok["ok"] is True and len(ok["streams"]) == 3
        refused = await live.call(ClientEvent.SYNC, "not an object")
        assert refused["ok"] is False
        assert set(refused["error"]) <= {"code", "message", "details"}
        assert refused["error"]["code"] == ErrorCode.VALIDATION_ERROR
        assert isinstance(refused["error"]["message"], str)
    finally:
        await live.close()


async def test_server_payloads_carry_timestamps(target: Target, org: Org) -> None:
    """TRN-4: a data event pushed to a socket has an ISO-8601 UTC ms `timestamp`."""
    agent = org.agent()
    live = await target.live(agent)
    try:
        async with target.http() as http:
            await target.create(http, agent, "lead", {"name": "Lee"})
        (event,) = await live.wait_for("lead:created")
        assert TIMESTAMP.match(event["timestamp"])
    finally:
        await live.close()
