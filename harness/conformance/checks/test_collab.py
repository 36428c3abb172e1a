"""§10 Collaboration, part 1: presence (COL-1, COL-2), viewing (COL-3), editing locks (COL-4,
COL-5). Timing checks wait on the advertised `presenceGraceSeconds` / `editLockTtlSeconds`
and report not-run when those are too long for the run (--crm-max-wait)."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest

from harness.client import PresenceRoster, RealtimeClient, RecordPresence
from harness.spec import ClientEvent, ErrorCode, ServerEvent

from ..check_api import Crm, is_wire_timestamp
from ..failures import expect, expect_equal

pytestmark = pytest.mark.asyncio

_DELIVERY_S = 5.0  # how long a positive check waits for an event that must arrive
_LATE_S = 2.0  # COL-1: offline within presenceGraceSeconds + 2 s


def _presence_of(client: RealtimeClient, user_id: str, since: int = 0) -> list[str]:
    presence = (ServerEvent.PRESENCE_ONLINE, ServerEvent.PRESENCE_OFFLINE)
    return [
        e.name
        for e in client.received(lambda e: e.name in presence and e.get("userId") == user_id,
                                 since=since)
    ]  # fmt: skip


async def _room(crm: Crm, client: RealtimeClient, record: dict[str, Any]) -> RecordPresence:
    room = RecordPresence(client, "escrow", record["id"])
    ack = await room.view()
    expect(ack.ok, "record:view of a visible record refused", observed=ack.raw,
           requirement="COL-3")  # fmt: skip
    return room


@pytest.mark.req("COL-1")
async def test_presence_once_per_transition_with_grace(crm: Crm) -> None:
    """COL-1: 0→1 sockets sends online to the team's other users once; a second tab sends
    nothing; the last close sends offline after the grace period, within grace + 2 s; another
    team hears nothing."""
    grace = float(crm.limits.presenceGraceSeconds)
    crm.require_wait(grace + _LATE_S, "presence offline")
    user, mate = crm.org.team_of(2)
    stranger = crm.org.agent()
    watcher = await crm.client(mate, node=1)
    outsider = await crm.client(stranger, node=1)
    first = await crm.client(user, node=0)
    online = await watcher.wait_for(
        lambda e: e.name == ServerEvent.PRESENCE_ONLINE and e.get("userId") == user.user_id,
        _DELIVERY_S,
    )
    expect(online is not None, "user:presence:online not received by a teammate")
    assert online is not None
    expect_equal(
        {k: online.get(k) for k in ("userId", "name", "teamId")},
        {"userId": user.user_id, "name": user.name, "teamId": user.team_id},
        "user:presence:online payload",
    )
    expect(is_wire_timestamp(online.get("timestamp")), "presence event without a TRN-4 timestamp",
           observed=online.payload)  # fmt: skip
    second = await crm.client(user, node=1)
    await second.disconnect()
    await asyncio.sleep(crm.quiet)
    expect_equal(_presence_of(watcher, user.user_id), [ServerEvent.PRESENCE_ONLINE],
                 "presence events after a second tab opened and closed")  # fmt: skip
    closed = time.monotonic()
    await first.disconnect()
    offline = await watcher.wait_for(
        lambda e: e.name == ServerEvent.PRESENCE_OFFLINE and e.get("userId") == user.user_id,
        grace + _LATE_S + 1.0,
    )
    took = time.monotonic() - closed
    expect(offline is not None and took <= grace + _LATE_S,
           "user:presence:offline not received within presenceGraceSeconds + 2 s",
           expected=f"<= {grace + _LATE_S:.1f} s", observed=offline and round(took, 2))  # fmt: skip
    expect(took >= grace * 0.8, "offline sent before the grace period ended",
           expected=f">= {grace:.1f} s", observed=round(took, 2))  # fmt: skip
    await asyncio.sleep(crm.quiet)
    expect_equal(_presence_of(watcher, user.user_id),
                 [ServerEvent.PRESENCE_ONLINE, ServerEvent.PRESENCE_OFFLINE],
                 "each transition announced exactly once")  # fmt: skip
    expect_equal(_presence_of(outsider, user.user_id), [], "presence leaked to another team")


@pytest.mark.req("COL-1")
async def test_presence_reconnect_within_grace_is_silent(crm: Crm) -> None:
    """COL-1: a user whose last socket closes and who reconnects within the grace period
    never went offline: no offline, and no second online."""
    grace = float(crm.limits.presenceGraceSeconds)
    crm.require_wait(grace + _LATE_S, "presence grace")
    user, mate = crm.org.team_of(2)
    watcher = await crm.client(mate, node=1)
    first = await crm.client(user, node=0)
    await watcher.wait_for(lambda e: e.get("userId") == user.user_id, _DELIVERY_S)
    mark = watcher.mark()
    await first.disconnect()
    await asyncio.sleep(grace / 4)
    await crm.client(user, node=1)
    await asyncio.sleep(grace + _LATE_S)
    expect_equal(_presence_of(watcher, user.user_id, since=mark), [],
                 "presence events for a reconnect inside the grace period")  # fmt: skip


@pytest.mark.req("COL-2")
async def test_presence_list_is_the_team_online_now(crm: Crm) -> None:
    """COL-2: presence:list lists the caller's team members online now, the caller included,
    with their socket counts; not other teams, not a user who just left (§15: a user inside
    the grace period is not listed)."""
    user, mate, leaver = crm.org.team_of(3)
    await crm.client(user, node=0)
    await crm.client(user, node=1)
    await crm.client(mate, node=1)
    await crm.client(crm.org.agent(), node=0)  # another team
    gone = await crm.client(leaver, node=0)
    await gone.disconnect()
    await asyncio.sleep(crm.quiet)
    roster = PresenceRoster(await crm.client(mate, node=0))
    ack = await roster.load()
    expect(ack.ok, "presence:list refused", observed=ack.raw)
    expect_equal(roster.connections, {user.user_id: 2, mate.user_id: 2},
                 "presence:list online users and connections")  # fmt: skip
    names = roster.names
    expect_equal(names.get(user.user_id), user.name, "presence:list name")


@pytest.mark.req("COL-3", "COL-9")
async def test_viewing_distinct_users(crm: Crm) -> None:
    """COL-3: record:view acks the viewers and joins the room; the room hears user:viewing
    when the set of distinct users changes (view, a second tab: no change, leave,
    disconnect); a record the caller may not see is NOT_FOUND and joins nothing (COL-9)."""
    user, mate = crm.org.team_of(2)
    stranger = crm.org.agent()
    record = await crm.create(crm.rest(user), "escrow")
    mine = await _room(crm, await crm.client(user, node=0), record)
    expect_equal(mine.viewers, [{"userId": user.user_id, "name": user.name}],
                 "viewers in the first view's ack")  # fmt: skip
    tab = await crm.client(mate, node=1)
    theirs = await _room(crm, tab, record)
    expect_equal({v.get("userId") for v in theirs.viewers}, {user.user_id, mate.user_id},
                 "viewers in the second user's view ack")  # fmt: skip
    expect(await mine.wait_viewers({user.user_id, mate.user_id}, _DELIVERY_S),
           "user:viewing not received when a second user viewed")  # fmt: skip
    before = len(mine.client.received(ServerEvent.VIEWING))
    second_tab = await crm.client(mate, node=0)
    await _room(crm, second_tab, record)  # the same users: no user:viewing
    await asyncio.sleep(crm.quiet)
    expect_equal(len(mine.client.received(ServerEvent.VIEWING)), before,
                 "user:viewing sent though the distinct viewers did not change")  # fmt: skip
    outsider = await crm.client(stranger, node=1)
    refused = await RecordPresence(outsider, "escrow", record["id"]).view()
    expect_equal(refused.code, ErrorCode.NOT_FOUND.value, "record:view of an invisible record",
                 requirement="COL-3")  # fmt: skip
    leave = await theirs.leave()
    expect(leave.ok, "record:leave must ack ok", observed=leave.raw)
    await asyncio.sleep(crm.quiet)
    expect_equal(mine.viewer_ids(), {user.user_id, mate.user_id},
                 "a user still viewing in another tab dropped from viewers")  # fmt: skip
    await second_tab.disconnect()
    expect(await mine.wait_viewers({user.user_id}, _DELIVERY_S),
           "user:viewing not received after the other user's sockets left")  # fmt: skip
    leaked = outsider.received(lambda e: e.get("entityId") == record["id"])
    expect(not leaked, "room event reached a socket whose user may not see the record",
           observed=[e.name for e in leaked], requirement="COL-9")  # fmt: skip


@pytest.mark.req("COL-4")
async def test_edit_lock_take_refresh_refuse_stop(crm: Crm) -> None:
    """COL-4: edit:start takes the lock (room hears `started`), the holder's repeat refreshes
    it silently, another user gets LOCKED with the holder in details, a non-holder's stop is
    LOCKED, the holder's stop releases it (`stopped`), a stop with no lock acks ok, and an
    invisible record is NOT_FOUND."""
    holder, mate = crm.org.team_of(2)
    record = await crm.create(crm.rest(holder), "escrow")
    watcher = await _room(crm, await crm.client(mate, node=1), record)
    editor = RecordPresence(await crm.client(holder, node=0), "escrow", record["id"])
    taken = await editor.start_editing()
    lock = taken.data.get("lock") or {}
    expect(taken.ok and lock.get("userId") == holder.user_id and lock.get("name") == holder.name
           and is_wire_timestamp(lock.get("expiresAt")), "record:edit:start ack",
           observed=taken.raw)  # fmt: skip
    started = await watcher.wait_editing("started", _DELIVERY_S)
    expect(started is not None, "user:editing started not received by the room")
    assert started is not None
    expect_equal({k: started.get(k) for k in ("userId", "name", "state")},
                 {"userId": holder.user_id, "name": holder.name, "state": "started"},
                 "user:editing payload")  # fmt: skip
    refresh = await editor.start_editing()
    expect(refresh.ok, "the holder's repeat edit:start must refresh", observed=refresh.raw)
    refused = await RecordPresence(watcher.client, "escrow", record["id"]).start_editing()
    expect_equal(refused.code, ErrorCode.LOCKED.value, "edit:start on a lock another user holds")
    details = refused.error.details if refused.error else None
    expect(details is not None and details.get("userId") == holder.user_id
           and details.get("name") == holder.name and "expiresAt" in details,
           "LOCKED details must name the holder", observed=refused.raw)  # fmt: skip
    not_holder = await watcher.stop_editing()
    expect_equal(not_holder.code, ErrorCode.LOCKED.value, "edit:stop by a non-holder")
    stopped = await editor.stop_editing()
    expect(stopped.ok, "the holder's edit:stop", observed=stopped.raw)
    expect(await watcher.wait_editing("stopped", _DELIVERY_S) is not None,
           "user:editing stopped not received")  # fmt: skip
    expect_equal([e.get("state") for e in watcher.editing_events], ["started", "stopped"],
                 "editing events (a refresh emits nothing)")  # fmt: skip
    again = await editor.stop_editing()
    expect(again.ok, "edit:stop with no lock held must ack ok", observed=again.raw)
    hidden = await crm.create(crm.rest(holder), "escrow", visibility="private")
    invisible = await RecordPresence(watcher.client, "escrow", hidden["id"]).start_editing()
    expect_equal(invisible.code, ErrorCode.NOT_FOUND.value, "edit:start on an invisible record")


@pytest.mark.req("COL-4")
async def test_edit_lock_expires_without_refresh(crm: Crm) -> None:
    """COL-4: a lock not refreshed for editLockTtlSeconds ends with `expired`; another user
    may then take it."""
    ttl = float(crm.limits.editLockTtlSeconds)
    crm.require_wait(ttl + _LATE_S, "edit lock expiry")
    holder, mate = crm.org.team_of(2)
    record = await crm.create(crm.rest(holder), "escrow")
    watcher = await _room(crm, await crm.client(mate, node=1), record)
    editor = RecordPresence(await crm.client(holder, node=0), "escrow", record["id"])
    expect((await editor.start_editing()).ok, "record:edit:start refused")
    expired = await watcher.wait_editing("expired", ttl + _LATE_S)
    expect(expired is not None, "user:editing expired not received within the TTL + 2 s")
    taken = await watcher.start_editing()
    expect(taken.ok, "the lock must be free after it expired", observed=taken.raw)


@pytest.mark.req("COL-4")
async def test_edit_lock_ends_on_offline_and_on_delete(crm: Crm) -> None:
    """COL-4, §15: the holder going offline (after the grace period) releases the lock with
    `stopped`; deleting a record releases its lock with `stopped`."""
    grace = float(crm.limits.presenceGraceSeconds)
    crm.require_wait(grace + _LATE_S, "lock release on offline")
    holder, mate = crm.org.team_of(2)
    rest = crm.rest(holder)
    gone, deleted = await crm.create(rest, "escrow"), await crm.create(rest, "escrow")
    watcher = await crm.client(mate, node=1)
    rooms = [await _room(crm, watcher, r) for r in (gone, deleted)]
    holder_socket = await crm.client(holder, node=0)
    for record in (gone, deleted):
        ack = await RecordPresence(holder_socket, "escrow", record["id"]).start_editing()
        expect(ack.ok, "record:edit:start refused", observed=ack.raw)
    response = await rest.delete("escrow", deleted["id"])
    expect_equal(response.status, 204, "the holder's delete")
    expect(await rooms[1].wait_editing("stopped", _DELIVERY_S) is not None,
           "deleting a record did not release its lock with `stopped`")  # fmt: skip
    await holder_socket.disconnect()
    expect(await rooms[0].wait_editing("stopped", grace + _LATE_S) is not None,
           "the holder going offline did not release the lock with `stopped`")  # fmt: skip


@pytest.mark.req("COL-5")
async def test_lock_refuses_other_users_changes(crm: Crm) -> None:
    """COL-5: while a user holds the lock, another user's update, archive, restore and
    delete are refused (REST 423 LOCKED, mutate LOCKED) and nothing changes; the holder's
    own update goes through."""
    holder, mate = crm.org.team_of(2)
    holder_rest, mate_rest = crm.rest(holder), crm.rest(mate, node=1)
    record = await crm.create(holder_rest, "escrow")
    rid = record["id"]
    ack = await RecordPresence(await crm.client(holder), "escrow", rid).start_editing()
    expect(ack.ok, "record:edit:start refused", observed=ack.raw)
    answers = {
        "update": await mate_rest.update("escrow", rid, {"status": "pending"}),
        "archive": await mate_rest.archive("escrow", rid),
        "restore": await mate_rest.restore("escrow", rid),
        "delete": await mate_rest.delete("escrow", rid),
    }
    expect_equal({op: (r.status, r.code) for op, r in answers.items()},
                 {op: (423, ErrorCode.LOCKED.value) for op in answers},
                 "another user's REST changes while the record is locked")  # fmt: skip
    mate_socket = await crm.client(mate, node=1)
    refresh = await RecordPresence(await crm.client(holder), "escrow", rid).start_editing()
    expect(refresh.ok, "the holder's refresh refused", observed=refresh.raw)  # a short TTL
    mutate = await mate_socket.request(ClientEvent.MUTATE, {
        "mutationId": uuid.uuid4().hex, "op": "update", "entityType": "escrow", "id": rid,
        "changes": {"status": "closed"}})  # fmt: skip
    expect_equal(mutate.code, ErrorCode.LOCKED.value, "another user's mutate while locked")
    current = await holder_rest.get("escrow", rid)
    expect_equal(current.record.get("version"), record["version"], "version after refusals")
    own = await holder_rest.update("escrow", rid, {"status": "pending"})
    expect_equal(own.status, 200, "the holder's own update")
