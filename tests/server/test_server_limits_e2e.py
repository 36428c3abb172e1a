"""Limits and bad input on a live server: LIM-1..5, and the metrics that count them (MET-1)."""

from __future__ import annotations

import asyncio
from typing import Any

from e2e_clients import Target, connect_refusal, wait_until
from prometheus_client.parser import text_string_to_metric_families

from harness.client import Org
from harness.spec import (
    AUTH_MESSAGES,
    INFO_PATH,
    METRIC_NAMES,
    METRICS_PATH,
    ClientEvent,
    ErrorCode,
    ServerEvent,
)


async def _limits(target: Target) -> dict[str, Any]:
    async with target.http() as http:
        limits: dict[str, Any] = (await http.get(INFO_PATH)).json()["limits"]
        return limits


async def _metrics(target: Target) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    async with target.http() as http:
        text = (await http.get(METRICS_PATH)).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_rate_limit(target: Target, org: Org) -> None:
    """LIM-1, INF-2: `burst` events pass, the rest get RATE_LIMITED with retryAfterMs, one
    server:error a second; every event counts; the user's other socket is unaffected."""
    burst = (await _limits(target))["burst"]
    agent = org.agent()
    noisy, quiet = await target.live(agent), await target.live(agent)
    try:
        calls = [noisy.call(ClientEvent.SYNC, {"cursors": {}}) for _ in range(burst - 2)]
        calls += [noisy.call("no:such:event", {}) for _ in range(2)]
        calls += [noisy.call(ClientEvent.SYNC, {"cursors": {}}) for _ in range(5)]
        acks = await asyncio.gather(*calls)
        refused = [a for a in acks if not a["ok"] and a["error"]["code"] == ErrorCode.RATE_LIMITED]
        assert len(refused) == 5
        assert all(a["error"]["details"]["retryAfterMs"] > 0 for a in refused)
        assert (await quiet.call(ClientEvent.SYNC, {"cursors": {}}))["ok"] is True
        notices = await noisy.wait_for(ServerEvent.SERVER_ERROR)
        assert len(notices) == 1
        assert {"code", "message", "retryAfterMs", "timestamp"} <= set(notices[0])
        assert notices[0]["code"] == ErrorCode.RATE_LIMITED
        await asyncio.sleep(max(a["error"]["details"]["retryAfterMs"] for a in refused) / 1000)
        assert (await noisy.call(ClientEvent.SYNC, {"cursors": {}}))["ok"] is True
    finally:
        await noisy.close()
        await quiet.close()


async def test_flood_disconnect(target: Target, org: Org) -> None:
    """LIM-2: more than floodDisconnectThreshold refusals within 10 s and the server drops the
    socket; another socket stays."""
    limits = await _limits(target)
    flooder, bystander = await target.live(org.agent()), await target.live(org.agent())
    try:
        for _ in range(limits["burst"] + limits["floodDisconnectThreshold"] + 5):
            await flooder.client.emit(ClientEvent.SYNC, {"cursors": {}})
        assert await wait_until(lambda: flooder.disconnected_at is not None, within=5)
        assert bystander.client.connected
        assert (await bystander.call(ClientEvent.SYNC, {"cursors": {}}))["ok"] is True
    finally:
        await flooder.close()
        await bystander.close()


async def test_connections_per_user(target: Target, org: Org) -> None:
    """LIM-3: the next socket past maxConnectionsPerUser is refused (AUTH-2 form); after one
    closes a new one is accepted within 2 s."""
    limit = (await _limits(target))["maxConnectionsPerUser"]
    agent = org.agent()
    sockets = [await target.live(agent) for _ in range(limit)]
    try:
        refusal = await connect_refusal(target.url, auth={"token": target.token(agent)})
        code = ErrorCode.TOO_MANY_CONNECTIONS
        assert refusal == {"message": AUTH_MESSAGES[code], "data": {"code": code.value}}
        await sockets.pop().close()
        await asyncio.sleep(0.1)
        sockets.append(await target.live(agent))
    finally:
        for live in sockets:
            await live.close()


async def test_payload_too_large_and_bad_input(target: Target, org: Org) -> None:
    """LIM-4, LIM-5: an oversized event is refused and the socket keeps working; unknown events
    with an ack get UNKNOWN_EVENT, without one nothing; odd input drops nobody."""
    max_bytes = (await _limits(target))["maxPayloadBytes"]
    agent = org.agent()
    live, other = await target.live(agent), await target.live(org.agent())
    try:
        big = {"mutationId": "big", "op": "create", "entityType": "lead",
               "changes": {"name": "x", "notes": "y" * max_bytes}}  # fmt: skip
        ack = await live.call(ClientEvent.MUTATE, big)
        assert ack["error"]["code"] == ErrorCode.PAYLOAD_TOO_LARGE
        unknown = await live.call("record:teleport", {})
        assert unknown["error"]["code"] == ErrorCode.UNKNOWN_EVENT
        for odd in (None, 5, "text", [], {"cursors": None}, {"cursors": {"x": b"\x00"}}):
            odd_ack = await live.call(ClientEvent.SYNC, odd)
            assert odd_ack["error"]["code"] == ErrorCode.VALIDATION_ERROR
        await live.client.emit("record:teleport", {})  # no ack: no reply, nothing else
        silent = {"mutationId": "silent", "op": "create", "entityType": "lead",
                  "changes": {"name": "quiet"}}  # fmt: skip
        await live.client.emit(ClientEvent.MUTATE, silent)  # no ack: still processed
        async with target.http() as http:

            async def total() -> int:
                response = await http.get(target.collection("lead"), headers=target.headers(agent))
                count: int = response.json()["total"]
                return count

            for _ in range(50):
                if await total() == 1:
                    break
                await asyncio.sleep(0.05)
            assert await total() == 1
        assert live.of(ServerEvent.SERVER_ERROR) == []
        assert live.client.connected and other.client.connected
        assert (await other.call(ClientEvent.SYNC, {"cursors": {}}))["ok"] is True
    finally:
        await live.close()
        await other.close()


async def test_metrics_count_logical_events(target: Target, org: Org) -> None:
    """MET-1, §15: the five metrics exist; a team broadcast to three sockets counts as one
    emitted event; received, connections and replayed move with what happened."""
    team = org.team_of(3)
    before = await _metrics(target)
    lives = [await target.live(agent) for agent in team]
    try:
        async with target.http() as http:
            await target.create(http, team[0], "lead", {"name": "m"})
        for live in lives:
            await live.wait_for("lead:created")
        await lives[1].call(ClientEvent.SYNC, {"cursors": {team[1].streams[1]: 0}})
        during = await _metrics(target)
    finally:
        for live in lives:
            await live.close()
    assert set(METRIC_NAMES) <= {name for name, _ in during}

    def delta(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return during.get(key, 0.0) - before.get(key, 0.0)

    assert delta("crm_realtime_events_emitted_total", event="lead:created") == 1
    assert delta("crm_realtime_events_received_total", event=ClientEvent.SYNC) >= 1
    assert delta("crm_realtime_replayed_events_total") == 1
    assert delta("crm_realtime_connections") == 3


async def test_abrupt_disconnects_free_every_slot(target: Target, org: Org) -> None:
    """LIM-3, MET-1: sockets that vanish without a goodbye (transport dropped) release their
    connection slots and the connections gauge returns to where it was."""
    limit = (await _limits(target))["maxConnectionsPerUser"]
    users = [org.agent() for _ in range(4)]
    before = (await _metrics(target))[("crm_realtime_connections", ())]
    lives = [await target.live(user) for user in users for _ in range(limit)]
    for live in lives:
        await live.client.eio.disconnect(abort=True)  # no Socket.IO DISCONNECT packet
    assert await wait_until(lambda: all(live.disconnected_at for live in lives), within=5)

    async def gauge() -> float:
        return (await _metrics(target))[("crm_realtime_connections", ())]

    for _ in range(100):
        if await gauge() == before:
            break
        await asyncio.sleep(0.05)
    assert await gauge() == before
    again = [await target.live(user) for user in users for _ in range(limit)]
    for live in again:
        await live.close()
