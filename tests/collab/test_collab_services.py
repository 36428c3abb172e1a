"""Presence, rooms, locks and typing as services, in-process on MemoryClusterState
(COL-1..COL-4, COL-6): what each socket event makes the server emit, and when."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from collab_in_process import collab_bench, session_of

from harness.spec import ErrorCode, ServerEvent
from reference_server.domain.contracts import Actor, DomainError

ANN = Actor("u-ann", "t-1", "b-1", "Ann")
BEN = Actor("u-ben", "t-1", "b-1", "Ben")
REF = {"entityType": "escrow", "entityId": "e-1"}


async def _drain() -> None:
    for _ in range(5):  # presence announcements run as background tasks
        await asyncio.sleep(0)


async def test_presence_once_per_transition_and_grace() -> None:
    """COL-1: the 0→1 socket announces online to the team room once, a second tab nothing;
    the last close announces offline only after the grace period; a socket back within the
    grace period announces nothing at all."""
    feature, sio, state = collab_bench(presenceGraceSeconds=0.2)
    presence = feature.presence
    first, count = await session_of(state, ANN)
    await presence.connected(first, count)
    second, count = await session_of(state, ANN)
    await presence.connected(second, count)
    await _drain()
    assert [(e.room, e.payload["userId"]) for e in sio.of(ServerEvent.PRESENCE_ONLINE)] == [
        ("team:t-1", "u-ann")
    ]
    for session in (second, first):
        await presence.disconnected(session, await state.remove_connection("u-ann", session.sid))
    await asyncio.sleep(0.1)
    assert sio.of(ServerEvent.PRESENCE_OFFLINE) == []  # still inside the grace period
    await asyncio.sleep(0.2)
    assert len(sio.of(ServerEvent.PRESENCE_OFFLINE)) == 1
    back, count = await session_of(state, ANN)
    await presence.connected(back, count)
    await _drain()
    await presence.disconnected(back, await state.remove_connection("u-ann", back.sid))
    again, count = await session_of(state, ANN)
    await presence.connected(again, count)  # back within the grace period
    await asyncio.sleep(0.35)
    names = [e.event for e in sio.emitted]
    assert names.count(ServerEvent.PRESENCE_ONLINE) == 2  # first login, after the offline
    assert names.count(ServerEvent.PRESENCE_OFFLINE) == 1


async def test_presence_list_counts_sockets_and_drops_leavers() -> None:
    """COL-2, §15: the caller's team online now with socket counts; a user whose last
    socket closed is not listed, even inside the grace period."""
    feature, _, state = collab_bench(presenceGraceSeconds=5)
    presence = feature.presence
    sessions = [await session_of(state, a) for a in (ANN, ANN, BEN)]
    for session, count in sessions:
        await presence.connected(session, count)
    ben = sessions[2][0]
    await presence.disconnected(ben, await state.remove_connection("u-ben", ben.sid))
    ack = await presence.list(sessions[0][0], {})
    assert ack == {"ok": True, "online": [{"userId": "u-ann", "name": "Ann", "connections": 2}]}
    with pytest.raises(DomainError) as bad:
        await presence.list(sessions[0][0], "everyone")
    assert bad.value.code is ErrorCode.VALIDATION_ERROR
    await feature.stop()


async def test_viewing_announces_changes_of_distinct_users() -> None:
    """COL-3: view acks the viewers and joins the room; user:viewing goes to the room only
    when the distinct users change; leave always acks ok; an invisible record is NOT_FOUND
    and joins nothing; a disconnect leaves every room."""
    feature, sio, state = collab_bench()
    rooms = feature.rooms
    (ann, _), (ann2, _), (ben, _) = [await session_of(state, a) for a in (ANN, ANN, BEN)]
    assert (await rooms.view(ann, REF))["viewers"] == [{"userId": "u-ann", "name": "Ann"}]
    await rooms.view(ann2, REF)
    await rooms.view(ben, REF)
    updates = [[v["userId"] for v in e.payload["viewers"]] for e in sio.of(ServerEvent.VIEWING)]
    assert updates == [["u-ann"], ["u-ann", "u-ben"]]
    assert sio.rooms["record:escrow:e-1"] == {ann.sid, ann2.sid, ben.sid}
    with pytest.raises(DomainError) as hidden:
        await rooms.view(ben, {"entityType": "escrow", "entityId": "hidden-1"})
    assert hidden.value.code is ErrorCode.NOT_FOUND
    assert "record:escrow:hidden-1" not in sio.rooms
    assert await rooms.leave(ann2, {"entityType": "escrow", "entityId": "never-viewed"}) == {
        "ok": True
    }
    await rooms.disconnected(ben, 0)
    await rooms.leave(ann2, REF)  # Ann still views in her first tab: no change
    final = [[v["userId"] for v in e.payload["viewers"]] for e in sio.of(ServerEvent.VIEWING)]
    assert final == [["u-ann"], ["u-ann", "u-ben"], ["u-ann"]]


async def test_typing_skips_every_socket_of_the_sender() -> None:
    """COL-6: user:typing goes to the record's room with the sender's sockets excluded
    (the fan-out drops the owner copy None); a bad state or invisible record is refused."""
    feature, sio, state = collab_bench()
    ann, _ = await session_of(state, ANN)
    assert await feature.rooms.typing(ann, {**REF, "state": "start"}) == {"ok": True}
    (typed,) = sio.of(ServerEvent.TYPING)
    assert typed.room == "record:escrow:e-1" and typed.skipped_user == "u-ann"
    assert typed.payload["state"] == "start" and typed.payload["userId"] == "u-ann"
    for payload, code in (({**REF, "state": "loud"}, ErrorCode.VALIDATION_ERROR),
                          ({"entityType": "escrow", "entityId": "hidden-2", "state": "stop"},
                           ErrorCode.NOT_FOUND)):  # fmt: skip
        with pytest.raises(DomainError) as refused:
            await feature.rooms.typing(ann, payload)
        assert refused.value.code is code


async def test_lock_lifecycle_and_expiry() -> None:
    """COL-4: start (started), refresh (silent), another user LOCKED with the holder, stop by
    a non-holder LOCKED, stop (stopped), and a lock left alone expires (expired)."""
    feature, sio, state = collab_bench(editLockTtlSeconds=0.3)
    locks = feature.locks
    (ann, _), (ben, _) = [await session_of(state, a) for a in (ANN, BEN)]
    taken = await locks.start(ann, REF)
    assert taken["lock"]["userId"] == "u-ann"
    await locks.start(ann, REF)
    for call in (locks.start, locks.stop):
        with pytest.raises(DomainError) as held:
            await call(ben, REF)
        assert held.value.code is ErrorCode.LOCKED and held.value.details is not None
        assert held.value.details["userId"] == "u-ann"
    assert await locks.stop(ann, REF) == {"ok": True}
    assert await locks.stop(ann, REF) == {"ok": True}  # nothing held: still ok
    await locks.start(ben, REF)
    await asyncio.sleep(0.5)
    states = [(e.payload["userId"], e.payload["state"]) for e in sio.of(ServerEvent.EDITING)]
    assert states == [("u-ann", "started"), ("u-ann", "stopped"), ("u-ben", "started"),
                      ("u-ben", "expired")]  # fmt: skip
    assert await state.get_lock("escrow:e-1") is None


async def test_lock_ends_on_offline_and_on_delete() -> None:
    """COL-4, §15: the holder going offline releases every lock they hold (stopped); a
    deleted record's lock is released (stopped); neither later reports `expired`."""
    feature, sio, state = collab_bench(editLockTtlSeconds=0.3)
    ann, _ = await session_of(state, ANN)
    other = {"entityType": "lead", "entityId": "l-9"}
    await feature.locks.start(ann, REF)
    await feature.locks.start(ann, other)
    await feature.locks.record_deleted("lead", "l-9")
    await feature.locks.release_all(ANN)
    await asyncio.sleep(0.45)
    states = [(e.room, e.payload["state"]) for e in sio.of(ServerEvent.EDITING)]
    assert states == [("record:escrow:e-1", "started"), ("record:lead:l-9", "started"),
                      ("record:lead:l-9", "stopped"), ("record:escrow:e-1", "stopped")]  # fmt: skip


async def test_a_socket_gone_during_view_leaves_no_ghost_viewer() -> None:
    """COL-3: a socket that disconnects while its `record:view` is being checked is neither
    joined nor listed as a viewer afterwards (seen under overload at 20,000 users)."""
    feature, sio, state = collab_bench()
    rooms = feature.rooms
    (ann, _), (ben, _) = [await session_of(state, a) for a in (ANN, BEN)]
    await rooms.view(ann, REF)
    gone = asyncio.Event()
    real_add = state.add_viewer

    async def add_then_disconnect(key: str, sid: str, viewer: Any) -> Any:
        viewers = await real_add(key, sid, viewer)
        ben.closed = True  # the gateway marks it, then runs the listeners
        await rooms.disconnected(ben, 0)
        gone.set()
        return viewers

    state.add_viewer = add_then_disconnect  # type: ignore[method-assign]
    await rooms.view(ben, REF)
    assert gone.is_set()
    assert [v.user_id for v in await state.viewers("escrow:e-1")] == ["u-ann"]
    assert ben.sid not in sio.rooms.get("record:escrow:e-1", set())

    state.add_viewer = real_add  # type: ignore[method-assign]
    closed_early = (await session_of(state, BEN))[0]
    closed_early.closed = True
    assert await rooms.view(closed_early, REF) == {"ok": True, "viewers": []}
    assert closed_early.sid not in sio.rooms.get("record:escrow:e-1", set())
