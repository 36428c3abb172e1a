"""RealtimeClient, StreamTracker wiring and MutationQueue against a tiny in-process server.

Covers the client side of AUTH-1/AUTH-2 (token placement, typed refusals), TRN-5 (typed acks),
STR-2/STR-5 (cursors and sync after reconnect) and MUT-3 (a queue flushed twice).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
from client_fake_server import GOOD_TOKEN, STREAM, FakeServer, running_fake_server

from harness.client import MutationQueue, RealtimeClient
from harness.spec import Op


@pytest.fixture
async def server() -> AsyncIterator[FakeServer]:
    async with running_fake_server() as fake:
        yield fake


async def test_token_in_auth_or_header_connects(server: FakeServer) -> None:
    """AUTH-1: the token travels in `auth.token` or in the Authorization header."""
    for place in ("auth", "header"):
        client = RealtimeClient(server.url, GOOD_TOKEN, token_in=place)
        assert await client.try_connect() is None
        assert client.connected
        await client.disconnect()
        assert not client.connected


async def test_polling_transport_round_trip(server: FakeServer) -> None:
    """TRN-2 (client side): the polling transport connects, acks, receives and closes."""
    client = RealtimeClient(server.url, GOOD_TOKEN, transports=("polling",))
    await client.connect()
    ack = await client.request("echo", {"over": "polling"})
    assert ack.ok and await client.wait_for("echoed", 2.0) is not None
    await client.disconnect()
    assert not client.connected and client.disconnects


async def test_refusals_are_typed_data(server: FakeServer) -> None:
    """AUTH-2: a refusal comes back as ConnectFailure(message, code)."""
    missing = await RealtimeClient(server.url, None).try_connect()
    bad = await RealtimeClient(server.url, "forged").try_connect()
    assert missing is not None and (missing.message, missing.code) == (
        "Authentication required",
        "AUTH_REQUIRED",
    )
    assert bad is not None and bad.code == "AUTH_INVALID"


async def test_unreachable_server_is_a_failure_without_code() -> None:
    """AUTH-2: a transport failure is a ConnectFailure with no code and the transport error."""
    failure = await RealtimeClient("http://127.0.0.1:9", GOOD_TOKEN).try_connect()
    assert failure is not None and failure.code is None and failure.transport_error


async def test_request_ack_and_recorded_event(server: FakeServer) -> None:
    """TRN-5: ack typed; received events carry timestamps and their wire size."""
    async with RealtimeClient(server.url, GOOD_TOKEN) as client:
        ack = await client.request("echo", {"x": "é"})
        assert ack.ok and ack.well_formed and ack.data["payload"] == {"x": "é"}
        refused = await client.request("refuse", {})
        assert not refused.ok and refused.code == "VALIDATION_ERROR" and refused.well_formed
        event = await client.wait_for("echoed", 2.0)
        assert event is not None and event.payload == {"payload": {"x": "é"}}
        packet = "2" + json.dumps(["echoed", event.payload], separators=(",", ":"))
        assert event.wire_bytes == len(packet.encode())
        assert event.received_at > 0 and event.received_perf > 0


async def test_missing_ack_times_out_as_data(server: FakeServer) -> None:
    """TRN-5: a handler that never acks gives an Ack with timed_out, not an exception."""
    async with RealtimeClient(server.url, GOOD_TOKEN) as client:
        ack = await client.request("kick-nothing", {}, timeout=0.3)
        assert ack.timed_out and not ack.ok and ack.error is None


async def test_wait_for_times_out_and_collect_quiet(server: FakeServer) -> None:
    """Negative-check helpers: nothing arrives → None / empty list; something → it."""
    async with RealtimeClient(server.url, GOOD_TOKEN) as client:
        assert await client.wait_for("never", 0.2) is None
        assert await client.collect_quiet(0.2) == []
        publisher = asyncio.create_task(server.publish(2))
        got = await client.collect_quiet(0.4, "escrow:updated")
        await publisher
        assert [e.seq for e in got] == [1, 2]


async def test_sync_after_reconnect_fills_the_gap(server: FakeServer) -> None:
    """STR-2, STR-5: events missed while offline arrive on sync with held cursors, once each."""
    client = RealtimeClient(server.url, GOOD_TOKEN)
    await client.connect()
    await server.publish(3)
    await client.wait_for_count("escrow:updated", 3, 2.0)
    assert client.tracker.cursor(STREAM) == 3
    await client.disconnect()
    await server.publish(4)  # seqs 4..7 while offline
    ack = await client.reconnect()
    assert ack is not None and ack.ok
    assert ack.data["streams"][STREAM] == {"head": 7, "replayed": 4}
    await client.wait_for_count("escrow:updated", 7, 2.0)
    assert client.tracker.seqs(STREAM) == list(range(1, 8))
    assert client.tracker.gaps() == {} and client.tracker.duplicates() == []
    await client.disconnect()


async def test_server_side_disconnect_is_recorded(server: FakeServer) -> None:
    """The client notices a server-side disconnect and records when it happened."""
    client = RealtimeClient(server.url, GOOD_TOKEN)
    await client.connect()
    await client.emit("kick", {})
    assert await client.wait_disconnected(3.0)
    assert client.disconnects and not client.connected


async def test_drop_transport_then_reconnect(server: FakeServer) -> None:
    """Client-side abrupt drop, then a reconnect keeps recorded events."""
    client = RealtimeClient(server.url, GOOD_TOKEN)
    await client.connect()
    await client.request("echo", {"n": 1})
    await client.drop_transport()
    assert not client.connected
    await client.reconnect(sync=False)
    assert client.connected and client.received("echoed")
    await client.disconnect()


async def test_mutation_queue_flushed_twice_applies_once(server: FakeServer) -> None:
    """MUT-3 (client side): queued offline, flushed on reconnect, re-flushed: one application."""
    client = RealtimeClient(server.url, GOOD_TOKEN)
    queue = MutationQueue()
    queue.attach(client)
    first = queue.enqueue(Op.CREATE, "escrow", changes={"address": "1 Main St"})
    queue.enqueue(Op.UPDATE, "escrow", record_id="r-1", changes={"status": "open"})
    await client.reconnect(sync=False)
    assert len(queue) == 0 and server.apply_count == 2
    assert [r.ack.data["duplicate"] for r in queue.results] == [False, False]
    queue.requeue_sent()
    results = await queue.flush(client)
    assert [r.ack.data["duplicate"] for r in results] == [True, True]
    assert results[0].mutation.mutation_id == first.mutation_id
    assert server.apply_count == 2
    await client.disconnect()
