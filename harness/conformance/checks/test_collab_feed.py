"""§10 Collaboration, part 2: typing (COL-6), notifications (COL-7), the activity feed
(COL-8) and who hears a record room (COL-9)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from harness.client import RecordPresence
from harness.spec import (
    ACTIVITY_PATH,
    ENTITY_TYPES,
    REDACTED,
    ErrorCode,
    ServerEvent,
    stream_kinds,
)

from ..check_api import Crm, is_wire_timestamp
from ..failures import expect, expect_equal

pytestmark = pytest.mark.asyncio

_DELIVERY_S = 5.0
_FEED_REACH = 100  # §15: the feed reaches back at least 100 events per stream
_SECRET = {"myCommission": 64231.17, "grossCommission": 128462.34}


def _is_data_event(event: Any) -> bool:
    return (
        isinstance(event, dict)
        and event.get("entityType") in ENTITY_TYPES
        and "action" in event
        and "kind" not in event
        and str(event.get("stream", "")).split(":", 1)[0] in stream_kinds()
    )


@pytest.mark.req("COL-6")
async def test_typing_reaches_the_room_but_not_the_sender(crm: Crm) -> None:
    """COL-6: `typing` goes to the record room as user:typing, to none of the sender's
    sockets (viewing or not, §15), never to another team; an invisible record is NOT_FOUND
    and a bad state a VALIDATION_ERROR."""
    sender, mate = crm.org.team_of(2)
    stranger = crm.org.agent()
    record = await crm.create(crm.rest(sender), "escrow")
    rid = record["id"]
    sender_viewing = RecordPresence(await crm.client(sender, node=0), "escrow", rid)
    expect((await sender_viewing.view()).ok, "record:view refused")
    sender_elsewhere = await crm.client(sender, node=1)
    mate_room = RecordPresence(await crm.client(mate, node=1), "escrow", rid)
    expect((await mate_room.view()).ok, "record:view refused")
    outsider = await crm.client(stranger, node=0)
    typing = RecordPresence(sender_elsewhere, "escrow", rid)
    ack = await typing.typing("start")
    expect(ack.ok, "typing refused", observed=ack.raw)
    got = await mate_room.client.wait_for(ServerEvent.TYPING, _DELIVERY_S)
    expect(got is not None, "user:typing not received by a viewer")
    assert got is not None
    expect_equal(
        {k: got.get(k) for k in ("entityType", "entityId", "userId", "name", "state")},
        {"entityType": "escrow", "entityId": rid, "userId": sender.user_id,
         "name": sender.name, "state": "start"},
        "user:typing payload",
    )  # fmt: skip
    expect(is_wire_timestamp(got.get("timestamp")), "user:typing without a timestamp")
    await asyncio.sleep(crm.quiet)
    echoes = [c.label for c in (sender_viewing.client, sender_elsewhere)
              if c.received(ServerEvent.TYPING)]  # fmt: skip
    expect(not echoes, "user:typing echoed to the sender's own sockets", observed=echoes)
    expect(not outsider.received(ServerEvent.TYPING), "user:typing reached another team")
    hidden = await crm.create(crm.rest(stranger), "escrow", visibility="private")
    refused = await RecordPresence(sender_elsewhere, "escrow", hidden["id"]).typing("start")
    expect_equal(refused.code, ErrorCode.NOT_FOUND.value, "typing on an invisible record")
    bad = await typing.typing("shouting")
    expect_equal(bad.code, ErrorCode.VALIDATION_ERROR.value, "typing with a bad state")


@pytest.mark.req("COL-9")
async def test_room_events_stay_in_the_room(crm: Crm) -> None:
    """COL-9: viewing, editing and typing events of a record reach only sockets in its room:
    not a teammate who is not viewing, not a user refused the record (private record)."""
    owner, mate, idle = crm.org.team_of(3)
    private = await crm.create(crm.rest(owner), "escrow", visibility="private")
    team = await crm.create(crm.rest(owner), "escrow")
    owner_socket = await crm.client(owner, node=0)
    mate_socket = await crm.client(mate, node=1)
    idle_socket = await crm.client(idle, node=1)
    refused = await RecordPresence(mate_socket, "escrow", private["id"]).view()
    expect_equal(refused.code, ErrorCode.NOT_FOUND.value, "record:view of a private record")
    for record in (private, team):
        room = RecordPresence(owner_socket, "escrow", record["id"])
        expect((await room.view()).ok, "record:view refused")
        expect((await room.start_editing()).ok, "record:edit:start refused")
        expect((await room.stop_editing()).ok, "record:edit:stop refused")
    expect((await RecordPresence(mate_socket, "escrow", team["id"]).view()).ok, "view refused")
    expect((await RecordPresence(owner_socket, "escrow", team["id"]).typing()).ok, "typing")
    expect((await RecordPresence(owner_socket, "escrow", private["id"]).typing()).ok, "typing")
    crm.exercised("COL-9", "viewing", "editing", "typing")
    arrived = await mate_socket.wait_for(ServerEvent.TYPING, _DELIVERY_S)
    expect(arrived is not None and arrived.get("entityId") == team["id"],
           "the viewer did not receive the team record's typing")  # fmt: skip
    await asyncio.sleep(crm.quiet)
    room_events = (ServerEvent.VIEWING, ServerEvent.EDITING, ServerEvent.TYPING)
    leaked = mate_socket.received(
        lambda e: e.name in room_events and e.get("entityId") == private["id"]
    )
    expect(not leaked, "a private record's room events reached a user who may not see it",
           observed=[e.name for e in leaked])  # fmt: skip
    idle_got = idle_socket.received(lambda e: e.name in room_events)
    expect(not idle_got, "room events reached a teammate who is not viewing",
           observed=[e.name for e in idle_got])  # fmt: skip


@pytest.mark.req("COL-7")
async def test_owner_notified_of_others_changes(crm: Crm) -> None:
    """COL-7: another user's update, archive, restore and delete each give the owner one
    `notification` on their user: stream (kind, entity, actor, message; durable: replayed by
    sync); the owner's own change and the actor get none; no sensitive value in it (RED-4)."""
    owner, mate = crm.org.team_of(2)
    owner_socket = await crm.client(owner, node=0)
    mate_socket = await crm.client(mate, node=1)
    owner_rest, mate_rest = crm.rest(owner), crm.rest(mate, node=1)
    record = await crm.create(owner_rest, "escrow", **_SECRET)
    rid = record["id"]
    await owner_rest.update("escrow", rid, {"notes": "mine"})
    for call in (mate_rest.update("escrow", rid, {"status": "pending"}),
                 mate_rest.archive("escrow", rid), mate_rest.restore("escrow", rid),
                 mate_rest.delete("escrow", rid)):  # fmt: skip
        response = await call
        expect(response.status in (200, 204), "a teammate's change failed", observed=response.body)
    notes = await owner_socket.wait_for_count(ServerEvent.NOTIFICATION, 4, _DELIVERY_S)
    kinds = ["record.updated", "record.archived", "record.restored", "record.deleted"]
    expect_equal([n.get("kind") for n in notes], kinds, "notification kinds, in order")
    stream = f"user:{owner.user_id}"
    for note in notes:
        expect_equal(
            {k: note.get(k) for k in ("stream", "entityType", "entityId", "actorId", "actorName")},
            {"stream": stream, "entityType": "escrow", "entityId": rid,
             "actorId": mate.user_id, "actorName": mate.name},
            "notification fields",
        )  # fmt: skip
        expect(isinstance(note.get("message"), str) and isinstance(note.seq, int)
               and isinstance(note.event_id, str), "notification message/seq/eventId",
               observed=note.payload)  # fmt: skip
    text = json.dumps([n.payload for n in notes])
    expect(not [v for v in _SECRET.values() if str(v) in text],
           "a sensitive value in a notification", requirement="COL-7")  # fmt: skip
    await asyncio.sleep(crm.quiet)
    expect(not mate_socket.received(ServerEvent.NOTIFICATION), "the actor got a notification")
    first = min(n.seq or 0 for n in notes)
    replay = await crm.client(owner, node=1, from_heads=False)
    ack = await replay.sync({stream: first - 1})
    expect(ack.ok, "sync refused", observed=ack.raw)
    replayed = replay.received(ServerEvent.NOTIFICATION)
    expect_equal([n.event_id for n in replayed], [n.event_id for n in notes],
                 "notifications replayed by sync")  # fmt: skip


async def _feed(crm: Crm, rest: Any, **params: Any) -> Any:
    return await rest.raw("GET", ACTIVITY_PATH, params=params or None)


@pytest.mark.req("COL-8")
async def test_activity_feed(crm: Crm) -> None:
    """COL-8: GET /activity returns the data events of the caller's three streams, newest
    first, redacted for the caller, `limit` 1–100 (default 20), nothing of other teams, no
    notifications; it reaches back at least 100 events per stream (§15)."""
    owner, mate = crm.org.team_of(2)
    stranger = crm.org.agent()
    owner_rest, mate_rest = crm.rest(owner), crm.rest(mate, node=1)
    await crm.create(crm.rest(stranger), "escrow")
    shared = await crm.create(owner_rest, "escrow", **_SECRET)
    await mate_rest.update("escrow", shared["id"], {"status": "pending"})  # notifies the owner
    mine = await crm.create(owner_rest, "lead", visibility="private")
    feed = await _feed(crm, mate_rest, limit=2)
    expect_equal(feed.status, 200, "GET /activity")
    events = feed.data if isinstance(feed.data, list) else []
    expect_equal([(e.get("entityId"), e.get("action")) for e in events],
                 [(shared["id"], "updated"), (shared["id"], "created")],
                 "the teammate's feed, newest first (not another's private record)")  # fmt: skip
    created = events[1].get("changes", {}) if len(events) == 2 else {}
    crm.exercised("RED-1", "activity")
    expect_equal({k: created.get(k) for k in _SECRET}, dict.fromkeys(_SECRET, REDACTED),
                 "sensitive fields in a non-owner's feed")  # fmt: skip
    own = await _feed(crm, owner_rest)
    own_events = own.data if isinstance(own.data, list) else []
    expect_equal([e.get("entityId") for e in own_events[:1]], [mine["id"]], "owner's newest")
    others = [e for e in own_events if not _is_data_event(e)]
    expect(not others, "the feed must hold data events only (no notifications)",
           observed=others[:3])  # fmt: skip
    for bad in ("0", "101", "x"):
        refused = await _feed(crm, owner_rest, limit=bad)
        expect_equal((refused.status, refused.code), (400, ErrorCode.VALIDATION_ERROR.value),
                     f"GET /activity?limit={bad}")  # fmt: skip
    loner = crm.org.agent()
    loner_rest = crm.rest(loner)
    await asyncio.gather(*(
        crm.create(loner_rest, "lead", visibility="private") for _ in range(_FEED_REACH + 1)
    ))  # fmt: skip
    default = await _feed(crm, loner_rest)
    expect_equal(len(default.data or []), 20, "default activity limit")
    reach = await _feed(crm, loner_rest, limit=_FEED_REACH)
    expect_equal(len(reach.data or []), _FEED_REACH, "the feed reaches back 100 events")
