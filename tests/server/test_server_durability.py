"""Crash and restart on the same data dir: CLU-2 (and the launcher's kill/restart)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import httpx
import pytest
from e2e_clients import Target

from harness.client import Agent, Org, TokenFactory
from harness.spec import HEALTH_PATH, ClientEvent
from reference_server import launcher
from reference_server.config import ServerSettings
from reference_server.exceptions import StartupError
from reference_server.launcher import RunningServer, start_server

_WRITES_BEFORE_CRASH = 20


@pytest.fixture
def own_server(jwt_secret: str) -> Iterator[RunningServer]:
    with start_server(ServerSettings(port=0, jwt_secret=jwt_secret)) as server:
        yield server


async def _write_until_cancelled(
    target: Target, agent: Agent, acked: list[str], enough: asyncio.Event
) -> None:
    async with target.http() as http:
        i = 0
        while True:
            i += 1
            try:
                response = await http.post(
                    target.collection("lead"), json={"name": f"n{i}"}, headers=target.headers(agent)
                )
            except httpx.HTTPError:
                continue  # the server is down: this write was never acknowledged
            if response.status_code == 201:
                acked.append(response.json()["data"]["id"])
                if len(acked) >= _WRITES_BEFORE_CRASH:
                    enough.set()


async def _replayed_ids(target: Target, agent: Agent) -> tuple[list[int], set[str]]:
    live = await target.live(agent)
    try:
        ack = await live.call(ClientEvent.SYNC, {"cursors": {agent.streams[1]: 0}})
        assert ack["ok"] is True
        events = live.of("lead:created")
        assert ack["streams"][agent.streams[1]] == {"head": len(events), "replayed": len(events)}
        return [e["seq"] for e in events], {e["entityId"] for e in events}
    finally:
        await live.close()


@pytest.mark.slow
async def test_kill_and_restart_lose_nothing(
    own_server: RunningServer, jwt_secret: str, org: Org
) -> None:
    """CLU-2, STR-1: kill -9 during a stream of changes, restart on the same data dir, sync:
    every acknowledged change is there, seqs gapless; the same after a graceful restart."""
    target = Target(own_server.url, TokenFactory(jwt_secret))
    agent = org.agent()
    acked: list[str] = []
    enough = asyncio.Event()
    writer = asyncio.create_task(_write_until_cancelled(target, agent, acked, enough))
    await asyncio.wait_for(enough.wait(), 20)
    await asyncio.to_thread(own_server.kill)
    writer.cancel()
    await asyncio.gather(writer, return_exceptions=True)
    await asyncio.to_thread(own_server.start)
    seqs, ids = await _replayed_ids(target, agent)
    assert seqs == list(range(1, len(seqs) + 1))
    assert set(acked) <= ids
    async with target.http() as http:
        await target.create(http, agent, "lead", {"name": "after-crash"})
    await asyncio.to_thread(own_server.restart)
    seqs_after, ids_after = await _replayed_ids(target, agent)
    assert seqs_after == list(range(1, len(seqs) + 2))
    assert ids <= ids_after


def test_launcher_reports_a_server_that_cannot_start() -> None:
    """INF-3: a server that exits at startup is a StartupError carrying its own one-line reason."""
    with pytest.raises(StartupError) as failed:
        start_server(database_url="mysql://localhost/crm")
    assert "unsupported database URL" in str(failed.value)


def test_launcher_retries_when_its_port_is_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    """INF-3: a picked port that another process takes before the child binds it is retried
    with a new port; the server that answers is the launcher's own."""
    real_free_port = launcher.free_port
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen(1)
        taken = squatter.getsockname()[1]
        picks = iter([taken])
        monkeypatch.setattr(
            launcher, "free_port", lambda host: next(picks, None) or real_free_port(host)
        )
        with start_server() as server:
            assert server.settings.port != taken
            assert httpx.get(server.url + HEALTH_PATH).json() == {"status": "ok"}
