"""§1 Transport: Socket.IO v5 / Engine.IO v4, transports, heartbeat, timestamps, acks
(TRN-1..TRN-5, INF-2 for the heartbeat)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from harness.spec import ClientEvent, ErrorCode, Op

from ..check_api import Crm, is_wire_timestamp, sample_record
from ..failures import expect, expect_equal

pytestmark = pytest.mark.asyncio


@pytest.mark.req("TRN-1")
async def test_engineio_v4_handshake_and_same_base_url(crm: Crm) -> None:
    """TRN-1: the Engine.IO v4 open packet at /socket.io/, REST on the same base URL."""
    url = crm.url(0) + crm.target.options.socketio_path
    async with crm.http() as http:
        response = await http.get(url, params={"EIO": "4", "transport": "polling"})
    if response.status_code == 200:
        text = response.text
        expect(text.startswith("0{"), "not an Engine.IO v4 open packet", observed=text[:200])
        opened = json.loads(text[1:])
        expect(
            {"sid", "upgrades", "pingInterval", "pingTimeout"} <= set(opened),
            "open packet fields",
            observed=opened,
        )
    agent = crm.org.agent()
    client = await crm.client(agent)  # python-socketio speaks Socket.IO v5, namespace "/"
    expect(client.connected, "Socket.IO v5 connect to namespace / failed")
    rest = await crm.rest(agent).list("escrow")
    expect_equal(rest.status, 200, "REST API on the same base URL as Socket.IO")


@pytest.mark.req("TRN-2")
async def test_websocket_required_polling_recommended(crm: Crm) -> None:
    """TRN-2: websocket MUST connect; polling SHOULD (a miss is non-strict)."""
    agent = crm.org.agent()
    ws = crm.realtime(agent, transports=("websocket",))
    failure = await ws.try_connect()
    expect(failure is None, "websocket transport refused", observed=failure and failure.message)
    polling = crm.realtime(agent, transports=("polling",))
    failure = await polling.try_connect()
    if failure is not None:
        crm.non_strict("TRN-2", f"polling transport not supported: {failure.message}")
        return
    ack = await polling.start_from_heads()
    expect(ack.ok, "a request over polling got no ok ack", observed=ack.raw)


@pytest.mark.req("TRN-3", "INF-2")
async def test_heartbeat_matches_info(crm: Crm) -> None:
    """TRN-3, INF-2: the Engine.IO pingInterval/pingTimeout equal the info document's."""
    client = await crm.client(crm.org.agent(), from_heads=False)
    advertised = crm.target.heartbeat
    expect_equal(
        client.heartbeat_ms(),
        (advertised.pingInterval, advertised.pingTimeout),
        "Engine.IO heartbeat differs from the info document",
        requirement="TRN-3",
    )


@pytest.mark.req("TRN-3")
async def test_silent_client_is_disconnected(crm: Crm) -> None:
    """TRN-3: a client that stops answering pings is dropped within interval+timeout+2 s."""
    beat = crm.target.heartbeat
    allowed = (beat.pingInterval + beat.pingTimeout + 2000) / 1000
    crm.require_wait(allowed + 1, "the heartbeat timeout check")
    client = await crm.client(crm.org.agent(), from_heads=False)
    started = time.perf_counter()
    client.suppress_pongs()
    dropped = await client.wait_disconnected(allowed + 1)
    waited = time.perf_counter() - started
    expect(
        dropped and waited <= allowed,
        "silent client not disconnected in time",
        expected=f"disconnected within {allowed:.1f} s",
        observed=f"disconnected after {waited:.1f} s" if dropped else "still connected",
    )


@pytest.mark.req("TRN-4")
async def test_every_event_has_a_wire_timestamp(crm: Crm) -> None:
    """TRN-4: every server→client event is one object with an ISO-8601 ms UTC timestamp,
    live and replayed, for each action."""
    actor = crm.org.agent()
    client = await crm.client(actor)
    cursors = client.tracker.cursors()
    record = await crm.create(crm.rest(actor), "lead")
    mutations: list[dict[str, Any]] = [
        {"op": Op.UPDATE, "changes": {"score": 77}},
        {"op": Op.ARCHIVE},
        {"op": Op.RESTORE},
        {"op": Op.DELETE},
    ]
    for i, change in enumerate(mutations):
        payload = {"mutationId": f"{crm.org.run_id}-ts-{i}", "entityType": "lead"}
        payload.update({"id": record["id"], **change})
        ack = await client.request(ClientEvent.MUTATE, payload)
        expect(ack.ok, "mutate refused", observed=ack.raw)
    await client.wait_for_count(lambda e: e.get("entityId") == record["id"], 5, 5.0)
    await client.sync(cursors)  # the same events again, replayed
    await client.wait_for_count(lambda e: e.get("entityId") == record["id"], 10, 5.0)
    bad = [
        {"event": e.name, "payload": e.payload}
        for e in client.events
        if not (isinstance(e.payload, dict) and is_wire_timestamp(e.get("timestamp")))
        or e.extra_args
    ]
    count = len(client.events)
    expect(count >= 10, "expected 5 live and 5 replayed events", observed=count)
    expect(not bad, "events without a valid timestamp", expected="…T…:…:….mmmZ", observed=bad[:5])


@pytest.mark.req("TRN-5")
async def test_acks_have_the_spec_shape(crm: Crm) -> None:
    """TRN-5: every client event gets {"ok": true, ...} or {"ok": false, "error": {code,
    message}} with a §13 code — for success and refusal of sync, mutate and auth:refresh."""
    agent = crm.org.agent()
    client = await crm.client(agent, from_heads=False)
    codes = {c.value for c in ErrorCode}
    requests = [
        (ClientEvent.SYNC, {"cursors": {}}, True),
        (ClientEvent.SYNC, {"cursors": {agent.streams[1]: -1}}, False),
        (ClientEvent.MUTATE, {"mutationId": f"{crm.org.run_id}-ack", "op": "create",
                              "entityType": "escrow", "changes": sample_record("escrow")}, True),
        (ClientEvent.MUTATE, {"mutationId": f"{crm.org.run_id}-bad", "op": "create",
                              "entityType": "escrow", "changes": {"bogus": 1}}, False),
        (ClientEvent.AUTH_REFRESH, {"token": crm.token(agent)}, True),
        (ClientEvent.AUTH_REFRESH, {"token": "not-a-jwt"}, False),
        ("no:such:event", {}, False),
    ]  # fmt: skip
    for event, payload, should_succeed in requests:
        ack = await client.request(event, payload)
        expect(not ack.timed_out, f"no ack for {event}", observed=None)
        expect(ack.well_formed, f"malformed ack for {event}", observed=ack.raw)
        expect_equal(ack.ok, should_succeed, f"{event} ack ok", f"payload {payload!r}")
        if not ack.ok:
            expect(ack.code in codes, f"{event}: code not from §13", observed=ack.raw)
