"""LIM-6 refusals at the WebSocket handshake (`realtime/busy_handshake.py`): a fresh WebSocket
connect to a node past its budget is answered with the AUTH-2 frames before python-engineio
sets up a session for it; a long-polling connect is refused by python-socketio in the same
form; a connect the node takes goes through unchanged."""

from __future__ import annotations

import asyncio
import secrets
import time
from pathlib import Path
from typing import Any

import socketio
from e2e_clients import connect, connect_refusal

from harness.client import Org, TokenFactory
from harness.spec import AUTH_MESSAGES, ErrorCode
from reference_server.config import ServerSettings
from reference_server.realtime.busy_handshake import _connect_error
from reference_server.shedding import Shedding
from tests.server.test_server_shedding import _serving

BUSY = ErrorCode.SERVER_BUSY


def _busy_form(refusal: dict[str, Any]) -> bool:
    data = refusal.get("data") or {}
    retry = data.get("retryAfterMs")
    return (refusal.get("message") == AUTH_MESSAGES[BUSY] and data.get("code") == BUSY.value
            and isinstance(retry, int) and retry >= 1000)  # fmt: skip


async def _polling_refusal(url: str, token: str) -> dict[str, Any]:
    client = socketio.AsyncClient(reconnection=False)
    refusal: dict[str, Any] = {}
    client.on("connect_error", lambda data=None: refusal.update(data or {}))
    try:
        await client.connect(url, auth={"token": token}, transports=["polling"], wait_timeout=5)
    except socketio.exceptions.ConnectionError:
        return refusal
    await client.disconnect()
    return {}


async def test_a_websocket_refusal_sets_up_no_engineio_session(tmp_path: Path) -> None:
    """LIM-6, AUTH-2: with its one slot held, a node refuses a WebSocket connect SERVER_BUSY
    with retryAfterMs, and python-engineio never handled that connect (its session count
    of handshakes stays at the held socket's one); a polling connect is refused in the same
    form by python-socketio; once the slot frees, a WebSocket connect is taken."""
    secret = secrets.token_hex(16)
    budget = Shedding(max_connections=1, retry_after_ms=1000)
    settings = ServerSettings(port=0, jwt_secret=secret, data_dir=str(tmp_path), shedding=budget)
    tokens, agent = TokenFactory(secret), Org().agent()
    async with _serving(settings) as (url, app):
        handshakes: list[str] = []
        handle_connect = app.sio.eio._handle_connect

        async def counted(*args: Any, **kwargs: Any) -> Any:
            handshakes.append("engineio")
            return await handle_connect(*args, **kwargs)

        app.sio.eio._handle_connect = counted  # type: ignore[method-assign]
        held = await connect(url, tokens.mint(agent), transports=["websocket"])
        try:
            assert handshakes == ["engineio"]
            refusal = await connect_refusal(url, auth={"token": tokens.mint(agent)})
            assert _busy_form(refusal), refusal
            assert handshakes == ["engineio"]  # refused before Engine.IO saw it
            refusal = await _polling_refusal(url, tokens.mint(agent))
            assert _busy_form(refusal), refusal
        finally:
            await held.close()
        deadline = time.monotonic() + 10.0
        while await connect_refusal(url, auth={"token": tokens.mint(agent)}) != {}:
            assert time.monotonic() < deadline, "the freed slot was not given to a connect"
            await asyncio.sleep(0.1)


def test_the_connect_error_answers_in_the_connects_namespace() -> None:
    """CONNECT_ERROR goes back in the namespace the CONNECT asked for (40/admin, → 44/admin,)."""
    assert _connect_error('40{"token":"t"}', 1500).startswith('44{"message":"Server busy"')
    assert _connect_error('40/admin,{"token":"t"}', 1500).startswith('44/admin,{"message"')
    assert '"retryAfterMs":1500' in _connect_error("40", 1500)
