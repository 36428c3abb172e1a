"""TRN-3, INF-2: the Engine.IO open packet announces exactly the info document's heartbeat;
an interval python-engineio cannot announce (not whole seconds) is refused up front."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from test_server_cli import _assert_one_line_error

from harness.spec import SOCKETIO_PATH, Heartbeat
from reference_server.app import build_app
from reference_server.config import ServerSettings
from reference_server.exceptions import SettingsError
from reference_server.state.memory import MemoryClusterState


def _app(heartbeat: Heartbeat) -> Any:
    # The handshake never reaches the store: an unopened placeholder will do.
    return build_app(ServerSettings(heartbeat=heartbeat), object(), MemoryClusterState())  # type: ignore[arg-type]


async def _open_packet(heartbeat: Heartbeat) -> dict[str, Any]:
    transport = httpx.ASGITransport(app=_app(heartbeat))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        answer = await http.get(SOCKETIO_PATH, params={"EIO": "4", "transport": "polling"})
    assert answer.status_code == 200 and answer.text.startswith("0{"), answer.text[:200]
    opened: dict[str, Any] = json.loads(answer.text[1:])
    return opened


@pytest.mark.parametrize(
    ("interval", "ping_timeout"), [(2000, 1000), (1000, 1001), (3000, 4007), (10000, 5000)]
)
async def test_open_packet_announces_the_configured_heartbeat(
    interval: int, ping_timeout: int
) -> None:
    """TRN-3: pingInterval/pingTimeout in the open packet equal the configured milliseconds,
    including timeouts that float arithmetic would round down (1001, 4007)."""
    opened = await _open_packet(Heartbeat(interval, ping_timeout))
    assert (opened["pingInterval"], opened["pingTimeout"]) == (interval, ping_timeout)


def test_interval_of_partial_seconds_is_refused() -> None:
    """TRN-3: python-engineio announces whole seconds, so 1500 ms would be announced as 1000:
    the app refuses to build rather than advertise what it does not send."""
    with pytest.raises(SettingsError, match="--ping-interval"):
        _app(Heartbeat(1500, 1000))


def test_cli_refuses_partial_second_interval_in_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """TRN-3: `serve --ping-interval 1500` is one clear line and exit 2, nothing started."""
    _assert_one_line_error(["--port", "0", "--ping-interval", "1500"], capsys, "--ping-interval")
