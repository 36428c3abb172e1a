"""Notifications written with the change (COL-7, RED-4) and the deletion listener that ends
a record's lock, on a real SQLite store."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from harness.spec import Limits, Op, ServerEvent
from reference_server.collab.notifications import CollabRecordService
from reference_server.domain.contracts import Actor, ChangeRequest
from reference_server.state.memory import MemoryClusterState
from reference_server.store import RecordStore, StoredEvent, open_store

OWNER = Actor("u-own", "t-1", "b-1", "Olive")
MATE = Actor("u-mate", "t-1", "b-1", "Milo")
SECRET = {"myCommission": 81234.56, "grossCommission": 162469.12}


class Published:
    def __init__(self) -> None:
        self.events: list[StoredEvent] = []

    async def publish(self, events: Sequence[StoredEvent]) -> None:
        self.events.extend(events)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[RecordStore]:
    opened = open_store(f"sqlite:///{tmp_path}/n.sqlite3")
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


async def test_other_users_changes_notify_the_owner(store: RecordStore) -> None:
    """COL-7: update/archive/restore/delete by another user each store one notification on
    the owner's user: stream in the same commit as the data event; the owner's own changes
    and creates notify nobody; no sensitive value is in any (RED-4). A delete calls the
    deletion listeners (they end the record's lock)."""
    published = Published()
    service = CollabRecordService(store, MemoryClusterState(), published, Limits())
    deleted: list[tuple[str, str]] = []

    async def on_delete(entity_type: str, record_id: str) -> None:
        deleted.append((entity_type, record_id))

    service.deletion_listeners.append(on_delete)
    created = await service.change(OWNER, ChangeRequest(Op.CREATE, "escrow", changes={
        "address": "1 Bay Rd", **SECRET}))  # fmt: skip
    rid = created.record_id
    await service.change(OWNER, ChangeRequest(Op.UPDATE, "escrow", rid, {"notes": "own"}))
    for op, changes in ((Op.UPDATE, {"status": "pending"}), (Op.ARCHIVE, None),
                        (Op.RESTORE, None), (Op.DELETE, None)):  # fmt: skip
        outcome = await service.change(MATE, ChangeRequest(op, "escrow", rid, changes))
        names = [e.name for e in outcome.events]
        assert names.count(ServerEvent.NOTIFICATION) == 1, names
    notes = [e for e in published.events if e.name == ServerEvent.NOTIFICATION]
    assert [n.payload["kind"] for n in notes] == [
        "record.updated", "record.archived", "record.restored", "record.deleted"]  # fmt: skip
    assert {n.stream for n in notes} == {"user:u-own"}
    assert [n.seq for n in notes] == [1, 2, 3, 4]
    first = notes[0].wire()
    assert {k: first[k] for k in ("entityType", "entityId", "actorId", "actorName")} == {
        "entityType": "escrow",
        "entityId": rid,
        "actorId": "u-mate",
        "actorName": "Milo",
    }
    text = json.dumps([n.wire() for n in notes])
    assert not [v for v in SECRET.values() if str(v) in text]
    stored = [e async for e in store.iter_all_events() if e.name == ServerEvent.NOTIFICATION]
    assert [e.event_id for e in stored] == [n.event_id for n in notes]
    assert deleted == [("escrow", rid)]
