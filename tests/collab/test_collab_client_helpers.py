"""The client library's presence roster and record tracker, on events a client received
(COL-1, COL-3, COL-4): baseline plus transitions, repeats, viewers and editing state."""

from __future__ import annotations

import time
from typing import Any

from harness.client import PresenceRoster, RealtimeClient, ReceivedEvent, RecordPresence
from harness.spec import ServerEvent


def _receive(client: RealtimeClient, name: str, payload: dict[str, Any]) -> None:
    client.events.append(ReceivedEvent(name, payload, time.time(), time.perf_counter(), 0))


def test_roster_follows_transitions_and_spots_repeats() -> None:
    """COL-1: online/offline events move users in and out; an online repeated without an
    offline in between (a per-node or per-tab announcement) is reported."""
    client = RealtimeClient("http://127.0.0.1:9", None)
    roster = PresenceRoster(client)
    online, offline = ServerEvent.PRESENCE_ONLINE, ServerEvent.PRESENCE_OFFLINE
    for name, user in ((online, "u1"), (online, "u2"), (offline, "u1"), (online, "u2")):
        _receive(client, name, {"userId": user, "name": user.upper(), "teamId": "t"})
    assert roster.online == {"u2": "U2"}
    assert [t.online for t in roster.transitions_of("u1")] == [True, False]
    assert [(t.user_id, t.online) for t in roster.repeated()] == [("u2", True)]


def test_record_tracker_reads_its_own_record_only() -> None:
    """COL-3, COL-4: viewers come from the latest user:viewing of this record; editing
    events of other records are ignored."""
    client = RealtimeClient("http://127.0.0.1:9", None)
    record = RecordPresence(client, "escrow", "e1")
    ref = {"entityType": "escrow", "entityId": "e1"}
    _receive(client, ServerEvent.VIEWING, {**ref, "viewers": [{"userId": "a", "name": "A"}]})
    _receive(client, ServerEvent.VIEWING, {"entityType": "escrow", "entityId": "e2",
                                           "viewers": [{"userId": "z", "name": "Z"}]})  # fmt: skip
    both = [{"userId": "a", "name": "A"}, {"userId": "b", "name": "B"}]
    _receive(client, ServerEvent.VIEWING, {**ref, "viewers": both})
    _receive(client, ServerEvent.EDITING, {**ref, "userId": "a", "state": "started"})
    _receive(client, ServerEvent.EDITING, {"entityType": "lead", "entityId": "e1",
                                           "userId": "q", "state": "started"})  # fmt: skip
    assert record.viewer_ids() == {"a", "b"}
    assert [e.get("state") for e in record.editing_events] == ["started"]
    assert record.editing is not None and record.editing.get("userId") == "a"
