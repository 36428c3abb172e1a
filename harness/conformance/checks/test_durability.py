"""CLU-2: a node that restarts (crash or graceful) loses no stored record and no event in
the replay window. Runs only with a restart command (`--crm-restart-cmd`)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from harness.client import Agent, RestClient
from harness.spec import HEALTH_PATH, ClientEvent

from ..failures import CheckFailure, expect, expect_equal
from ..kit import Crm, sample_record

pytestmark = pytest.mark.asyncio

_RESTART_TIMEOUT_S = 60.0


async def _wait_healthy(url: str, timeout: float) -> bool:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=1.0) as http:
        while time.monotonic() < deadline:
            try:
                if (await http.get(url + HEALTH_PATH)).status_code == 200:
                    return True
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    return False


async def _keep_writing(rest: RestClient, stop: asyncio.Event, made: list[str]) -> None:
    """Create records until told to stop; keep the ids the server acknowledged."""
    n = 0
    while not stop.is_set():
        n += 1
        try:
            response = await rest.create("lead", sample_record("lead", name=f"Durable {n}"))
        except httpx.HTTPError:
            response = None
        if response is not None and response.status == 201:
            made.append(response.record["id"])
        await asyncio.sleep(0.03)


@pytest.mark.req("CLU-2")
async def test_restart_loses_nothing(crm: Crm) -> None:
    """CLU-2: while changes stream in, the target restarts; afterwards every acknowledged
    record exists and a client that reconnects and syncs holds every seq, none twice."""
    if not crm.can_restart:
        crm.not_run("needs --crm-restart-cmd (a command that restarts the target)")
    writer, reader = crm.org.team_of(2)
    client = await crm.client(reader, node=0)
    team = f"team:{writer.team_id}"
    before_writes = client.tracker.cursor(team)
    first_write_at = time.monotonic()
    rest = crm.rest(writer)
    made: list[str] = []
    stop = asyncio.Event()
    writing = asyncio.create_task(_keep_writing(rest, stop, made))
    await asyncio.sleep(0.5)
    await crm.restart_target(_RESTART_TIMEOUT_S)
    healthy = await asyncio.gather(*(_wait_healthy(u, _RESTART_TIMEOUT_S)
                                     for u in crm.target.urls))  # fmt: skip
    expect(all(healthy), "the target did not come back healthy after the restart")
    await asyncio.sleep(0.5)
    stop.set()
    await writing
    expect(len(made) >= 2, "too few acknowledged writes around the restart", observed=len(made))
    check = crm.rest(reader)
    missing: list[Any] = []
    for rid in made:
        if (await check.get("lead", rid)).status != 200:
            missing.append(rid)
    expect(not missing, "acknowledged records lost by the restart", observed=missing)
    if client.connected:
        await client.wait_disconnected(2.0)
    ack = None
    for _ in range(20):
        try:
            ack = await client.reconnect()
            break
        except Exception:  # the node may still be warming up; try again shortly
            await asyncio.sleep(0.25)
    expect(ack is not None and ack.ok, "sync after the restart", observed=ack and ack.raw)
    head = ((ack.data.get("streams") or {}).get(team) or {}).get("head") if ack else None
    await client.wait_for_count(lambda e: e.stream == team, len(made), 5.0)
    expect_equal(client.tracker.gaps(), {}, "seqs missing after restart and sync")
    held = client.tracker.seqs(team)
    expect_equal(held[-1] if held else None, head, "highest seq held vs the stream head")
    expect(len(held) >= len(made), "fewer events than acknowledged writes",
           observed={"events": len(held), "writes": len(made)})  # fmt: skip
    await _expect_replay_from(crm, reader, team, before_writes, first_write_at)


async def _expect_replay_from(
    crm: Crm, agent: Agent, stream: str, cursor: int, since: float
) -> None:
    """A client that was away during the whole run syncs from before the first write: every
    event still inside the replay window must come back. The client above stayed connected
    until the restart and received those live, so it alone would not notice a restart that
    loses the event log."""
    late = await crm.client(agent, from_heads=False)
    age_s = time.monotonic() - since  # at least the age of the oldest event asked for
    ack = await late.request(ClientEvent.SYNC, {"cursors": {stream: cursor}})
    expect(ack.ok, "sync from before the writes refused", observed=ack.raw)
    entry = (ack.data.get("streams") or {}).get(stream) or {}
    head = entry.get("head")
    if not isinstance(head, int):
        raise CheckFailure("sync ack without the stream's head", observed=ack.raw)
    limits = crm.limits
    if head - cursor > limits.replayWindowEvents or age_s >= limits.replayWindowSeconds:
        crm.remark("CLU-2", "replay from before the restart not checked: outside the window")
        return
    expect(not entry.get("reset"), "events inside the replay window lost by the restart",
           expected={"head": head, "replayed": head - cursor}, observed=entry)  # fmt: skip
    replayed = [e.seq for e in late.received(lambda e: e.stream == stream)]
    expect_equal(sorted(set(replayed)), list(range(cursor + 1, head + 1)),
                 "seqs replayed from before the restart")  # fmt: skip
