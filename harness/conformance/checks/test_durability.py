"""CLU-2: a node that restarts (crash or graceful) loses no stored record and no event in
the replay window. Runs only with a restart command (`--crm-restart-cmd`)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from harness.client import Ack, Agent, RealtimeClient, RestClient
from harness.spec import HEALTH_PATH, ClientEvent

from ..check_api import Crm, sample_record
from ..failures import CheckFailure, expect, expect_equal

pytestmark = pytest.mark.asyncio

_RESTART_TIMEOUT_S = 60.0


async def _wait_healthy(crm: Crm, url: str, timeout: float) -> bool:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    async with crm.http(timeout=1.0) as http:
        while time.monotonic() < deadline:
            try:
                if (await http.get(url + HEALTH_PATH)).status_code == 200:
                    return True
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    return False


@dataclass
class _Writes:
    """One writer's creates, sent one after another: when each was sent, and the ids the
    target acknowledged. Seq `base + k` of the writer's stream came from attempt k or a later
    one, so it was stored after `sent_at[k - 1]`."""

    base: int
    sent_at: list[float] = field(default_factory=list)
    made: list[str] = field(default_factory=list)

    def first_sent_after(self, cursor: int) -> float:
        """No earlier than the event after `cursor` was stored (`time.monotonic()`)."""
        index = min(max(cursor - self.base, 0), len(self.sent_at) - 1)
        return self.sent_at[index]


async def _keep_writing(rest: RestClient, stop: asyncio.Event, writes: _Writes) -> None:
    """Create records until told to stop."""
    n = 0
    while not stop.is_set():
        n += 1
        writes.sent_at.append(time.monotonic())
        try:
            response = await rest.create("lead", sample_record("lead", name=f"Durable {n}"))
        except httpx.HTTPError:
            response = None
        if response is not None and response.status == 201:
            writes.made.append(response.record["id"])
        await asyncio.sleep(0.03)


async def _reconnect(client: RealtimeClient) -> Ack | None:
    for _ in range(20):
        try:
            return await client.reconnect()
        except Exception:  # the node may still be warming up; try again shortly
            await asyncio.sleep(0.25)
    return None


@pytest.mark.req("CLU-2")
async def test_restart_loses_nothing(crm: Crm) -> None:
    """CLU-2: while changes stream in, the target restarts; afterwards every acknowledged
    record exists and a client that reconnects and syncs holds every seq, none twice. Where
    the restart took the missed events past replayWindowSeconds, a reset is right (STR-3) and
    the refetch over REST is what is checked."""
    if not crm.can_restart:
        crm.not_run("needs --crm-restart-cmd (a command that restarts the target)")
    writer, reader = crm.org.team_of(2)
    client = await crm.client(reader, node=0)
    team = f"team:{writer.team_id}"
    writes = _Writes(base=client.tracker.cursor(team))
    rest = crm.rest(writer)
    stop = asyncio.Event()
    writing = asyncio.create_task(_keep_writing(rest, stop, writes))
    await asyncio.sleep(0.5)
    await crm.restart_target(_RESTART_TIMEOUT_S)
    healthy = await asyncio.gather(*(_wait_healthy(crm, u, _RESTART_TIMEOUT_S)
                                     for u in crm.target.urls))  # fmt: skip
    expect(all(healthy), "the target did not come back healthy after the restart")
    await asyncio.sleep(0.5)
    stop.set()
    await writing
    made = writes.made
    expect(len(made) >= 2, "too few acknowledged writes around the restart", observed=len(made))
    check = crm.rest(reader)
    missing: list[Any] = []
    for rid in made:
        if (await check.get("lead", rid)).status != 200:
            missing.append(rid)
    expect(not missing, "acknowledged records lost by the restart", observed=missing)
    if client.connected:
        await client.wait_disconnected(2.0)
    cursor = client.tracker.cursor(team)
    ack = await _reconnect(client)
    expect(ack is not None and ack.ok, "sync after the restart", observed=ack and ack.raw)
    entry = ((ack.data.get("streams") or {}).get(team) or {}) if ack else {}
    head = entry.get("head")
    if not isinstance(head, int):
        raise CheckFailure("sync ack without the stream's head", observed=ack and ack.raw)
    excuse = crm.reset_excuse(head, cursor, writes.first_sent_after(cursor))
    if entry.get("reset") is True and excuse is not None:
        crm.remark("CLU-2", f"the reconnected reader's replay not judged: {excuse}")
    else:
        expect(not entry.get("reset"), "events inside the replay window lost by the restart",
               expected={"head": head, "replayed": head - cursor}, observed=entry)  # fmt: skip
        await client.wait_for_count(lambda e: e.stream == team, len(made), 5.0)
        expect_equal(client.tracker.gaps(), {}, "seqs missing after restart and sync")
        held = client.tracker.seqs(team)
        expect_equal(held[-1] if held else None, head, "highest seq held vs the stream head")
        expect(len(held) >= len(made), "fewer events than acknowledged writes",
               observed={"events": len(held), "writes": len(made)})  # fmt: skip
    await _expect_replay_from(crm, reader, team, writes)


async def _expect_replay_from(crm: Crm, agent: Agent, stream: str, writes: _Writes) -> None:
    """A client that was away during the whole run syncs from before the first write: every
    event still inside the replay window must come back. The client above stayed connected
    until the restart and received those live, so it alone would not notice a restart that
    loses the event log."""
    late = await crm.client(agent, from_heads=False)
    cursor = writes.base
    ack = await late.request(ClientEvent.SYNC, {"cursors": {stream: cursor}})
    expect(ack.ok, "sync from before the writes refused", observed=ack.raw)
    entry = (ack.data.get("streams") or {}).get(stream) or {}
    head = entry.get("head")
    if not isinstance(head, int):
        raise CheckFailure("sync ack without the stream's head", observed=ack.raw)
    excuse = crm.reset_excuse(head, cursor, writes.first_sent_after(cursor))
    if entry.get("reset") is True and excuse is not None:
        crm.remark("CLU-2", f"replay from before the restart not judged: {excuse}")
        return
    expect(not entry.get("reset"), "events inside the replay window lost by the restart",
           expected={"head": head, "replayed": head - cursor}, observed=entry)  # fmt: skip
    replayed = [e.seq for e in late.received(lambda e: e.stream == stream)]
    expect_equal(sorted(set(replayed)), list(range(cursor + 1, head + 1)),
                 "seqs replayed from before the restart")  # fmt: skip
