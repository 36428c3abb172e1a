"""Live events, redaction per recipient, streams and replay: EVT-1/2/5, RED-3, STR-2..5."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from e2e_clients import Live, Target

from harness.client import Org
from harness.spec import INFO_PATH, REDACTED, ClientEvent, ErrorCode


async def _close(*lives: Live) -> None:
    await asyncio.gather(*(live.close() for live in lives))


async def test_audience_follows_visibility(target: Target, org: Org) -> None:
    """EVT-1, EVT-2: team → the team's sockets, broker → the broker's, private → the owner's;
    nobody else, and each socket once even with two sockets per user."""
    broker = org.broker()
    owner, mate = org.team_of(2, broker)
    (neighbour,) = org.team_of(1, broker)
    outsider = org.agent()
    owner_a, owner_b, mate_s, neighbour_s, outsider_s = [
        await target.live(a) for a in (owner, owner, mate, neighbour, outsider)
    ]
    try:
        async with target.http() as http:
            for visibility in ("team", "broker", "private"):
                await target.create(
                    http, owner, "lead", {"name": visibility, "visibility": visibility}
                )
        await owner_a.wait_for("lead:created", 3)
        await owner_b.wait_for("lead:created", 3)
        await asyncio.sleep(0.3)  # let anything misrouted arrive

        def names(live: Live) -> list[str]:
            return sorted(e["changes"]["name"] for e in live.of("lead:created"))

        assert names(owner_a) == names(owner_b) == ["broker", "private", "team"]
        assert names(mate_s) == ["broker", "team"]
        assert names(neighbour_s) == ["broker"]
        assert names(outsider_s) == []
        for live in (owner_a, owner_b, mate_s, neighbour_s):
            ids = Counter(e["eventId"] for e in live.of("lead:created"))
            assert set(ids.values()) == {1}
    finally:
        await _close(owner_a, owner_b, mate_s, neighbour_s, outsider_s)


async def test_redaction_is_per_recipient(target: Target, org: Org) -> None:
    """RED-3, RED-1, RED-2: one team broadcast: the owner's sockets get true values, a
    teammate's get [REDACTED], with the same eventId, stream and seq."""
    owner, mate = org.team_of(2)
    owner_s, mate_s = await target.live(owner), await target.live(mate)
    try:
        async with target.http() as http:
            record = await target.create(
                http, owner, "escrow", {"address": "9 Bay", "myCommission": 1200}
            )
            await http.patch(
                f"{target.collection('escrow')}/{record['id']}",
                json={"grossCommission": 5000},
                headers=target.headers(owner),
            )
        mine = await owner_s.wait_for("escrow:updated")
        theirs = await mate_s.wait_for("escrow:updated")
        assert mine[0]["changes"]["grossCommission"] == 5000
        assert theirs[0]["changes"]["grossCommission"] == REDACTED
        same = ("eventId", "stream", "seq", "version")
        assert [mine[0][k] for k in same] == [theirs[0][k] for k in same]
        created = (await mate_s.wait_for("escrow:created"))[0]
        assert created["changes"]["myCommission"] == REDACTED
        assert "grossCommission" not in created["changes"]
    finally:
        await _close(owner_s, mate_s)


async def test_event_only_after_store(target: Target, org: Org) -> None:
    """EVT-5: a client that receives an event and reads the record sees at least that version."""
    agent = org.agent()
    live = await target.live(agent)
    try:
        async with target.http() as http:
            record = await target.create(http, agent, "lead", {"name": "E"})
            url = f"{target.collection('lead')}/{record['id']}"
            for score in range(3):
                await http.patch(url, json={"score": score}, headers=target.headers(agent))
            events = await live.wait_for("lead:updated", 3)
            for event in events:
                read = await http.get(url, headers=target.headers(agent))
                assert read.json()["data"]["version"] >= event["version"]
    finally:
        await live.close()


async def test_sync_replays_then_acks(target: Target, org: Org) -> None:
    """STR-2, RED-1: replayed events (redacted for the caller) arrive before the ack, which
    names all three streams; a cursor at head replays nothing (§15)."""
    owner, mate = org.team_of(2)
    async with target.http() as http:
        for price in (1, 2, 3):
            await target.create(http, owner, "escrow", {"address": "a", "myCommission": price})
    live = await target.live(mate)
    try:
        team = mate.streams[1]
        ack = await live.call(ClientEvent.SYNC, {"cursors": {team: 1}})
        replayed = live.of("escrow:created")  # already here when the ack arrives
        assert [e["seq"] for e in replayed] == [2, 3]
        assert all(e["changes"]["myCommission"] == REDACTED for e in replayed)
        assert ack["streams"][team] == {"head": 3, "replayed": 2}
        assert set(ack["streams"]) == set(mate.streams)
        assert ack["streams"][mate.streams[2]] == {"head": 0, "replayed": 0}
        at_head = await live.call(ClientEvent.SYNC, {"cursors": {team: 3}})
        assert at_head["streams"][team] == {"head": 3, "replayed": 0}
    finally:
        await live.close()


async def test_sync_resets_and_refusals(target: Target, org: Org) -> None:
    """STR-3, STR-4, §15: beyond the window or above head → reset; bad cursor → VALIDATION_ERROR;
    a foreign stream → FORBIDDEN (decided first) and nothing is replayed."""
    agent, stranger = org.agent(), org.agent()
    async with target.http() as http:
        info_window = (await http.get(INFO_PATH)).json()["limits"]["replayWindowEvents"]
        for i in range(info_window + 2):
            await target.create(http, agent, "lead", {"name": f"n{i}"})
    live = await target.live(agent)
    try:
        team = agent.streams[1]
        head = info_window + 2
        far = await live.call(ClientEvent.SYNC, {"cursors": {team: 1}})
        assert far["streams"][team] == {"head": head, "reset": True}
        above = await live.call(ClientEvent.SYNC, {"cursors": {team: head + 5}})
        assert above["streams"][team] == {"head": head, "reset": True}
        inside = await live.call(ClientEvent.SYNC, {"cursors": {team: 2}})
        assert inside["streams"][team] == {"head": head, "replayed": info_window}
        count_before = len(live.of("lead:created"))
        for cursors in ({team: -1}, {team: "3"}, {team: 1.5}):
            bad = await live.call(ClientEvent.SYNC, {"cursors": cursors})
            assert bad["error"]["code"] == ErrorCode.VALIDATION_ERROR
        for payload in ({}, {"cursors": [team]}):
            bad = await live.call(ClientEvent.SYNC, payload)
            assert bad["error"]["code"] == ErrorCode.VALIDATION_ERROR
        foreign = stranger.streams[1]
        forbidden = await live.call(ClientEvent.SYNC, {"cursors": {team: 0, foreign: "bad"}})
        assert forbidden["error"]["code"] == ErrorCode.FORBIDDEN
        await asyncio.sleep(0.2)
        assert len(live.of("lead:created")) == count_before
    finally:
        await live.close()


async def test_reconnect_and_sync_loses_nothing(target: Target, org: Org) -> None:
    """STR-5, STR-1: a socket that drops, misses changes, reconnects and syncs with the cursors
    it held ends with every seq of its streams, none twice after dedup by eventId."""
    agent = org.agent()
    team = agent.streams[1]
    live = await target.live(agent)
    async with target.http() as http:
        for i in range(3):
            await target.create(http, agent, "lead", {"name": f"before{i}"})
        held: list[dict[str, Any]] = await live.wait_for("lead:created", 3)
        cursor = max(e["seq"] for e in held)
        await live.close()
        for i in range(4):
            await target.create(http, agent, "lead", {"name": f"missed{i}"})
    again = await target.live(agent)
    try:
        ack = await again.call(ClientEvent.SYNC, {"cursors": {team: cursor}})
        assert ack["streams"][team]["replayed"] == 4
        events = {e["eventId"]: e for e in held + again.of("lead:created")}
        assert sorted(e["seq"] for e in events.values()) == list(range(1, 8))
    finally:
        await again.close()
