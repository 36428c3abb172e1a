"""§5 Data events: audience, exactly once, content, via, ordering after storage, size
(EVT-1..EVT-6)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from typing import Any

import pytest

from harness.client import RealtimeClient
from harness.spec import REDACTED, Action, ClientEvent, Op, data_event_name

from ..check_api import Crm, is_wire_timestamp, sample_record
from ..failures import CheckFailure, Severity, expect, expect_equal

pytestmark = pytest.mark.asyncio

_EVENT_FIELDS = frozenset(
    {
        "eventId", "stream", "seq", "entityType", "entityId", "action", "version",
        "changes", "actorId", "teamId", "brokerId", "via", "taskId", "timestamp",
    }
)  # fmt: skip
_MAX_UPDATE_BYTES = 2048  # EVT-6


def _for_entity(entity_id: str) -> Any:
    return lambda e: e.get("entityId") == entity_id


@pytest.mark.req("EVT-1", "EVT-2")
async def test_audience_by_visibility_exactly_once(crm: Crm) -> None:
    """EVT-1: team → the team's sockets, broker → the brokerage's, private → the owner's;
    nobody else. EVT-2: each socket in the audience gets it once, though in several rooms."""
    owner, mate = crm.org.team_of(2)
    sibling = crm.org.agent(crm.org.team(owner.broker_id))
    stranger = crm.org.agent()
    sockets: dict[str, RealtimeClient] = {
        "owner-1": await crm.client(owner, node=0),
        "owner-2": await crm.client(owner, node=1),
        "mate": await crm.client(mate, node=1),
        "sibling": await crm.client(sibling, node=1),
        "stranger": await crm.client(stranger, node=0),
    }
    audience = {
        "team": {"owner-1", "owner-2", "mate"},
        "broker": {"owner-1", "owner-2", "mate", "sibling"},
        "private": {"owner-1", "owner-2"},
    }
    rest = crm.rest(owner)
    made = {v: await crm.create(rest, "listing", visibility=v) for v in audience}
    for visibility, members in audience.items():
        rid = made[visibility]["id"]
        arrived = await asyncio.gather(
            *(sockets[m].wait_for(_for_entity(rid), 5.0) for m in sorted(members))
        )
        missing = [m for m, e in zip(sorted(members), arrived, strict=True) if e is None]
        expect(
            not missing, f"{visibility} event not received", observed=missing, requirement="EVT-1"
        )
    await asyncio.sleep(crm.quiet)
    for visibility, members in audience.items():
        rid = made[visibility]["id"]
        for label, client in sockets.items():
            got = client.received(_for_entity(rid))
            if label not in members:
                expect(
                    not got,
                    f"{visibility} event leaked to {label}",
                    observed=[e.payload for e in got],
                    requirement="EVT-1",
                )
                continue
            counts = Counter(e.event_id for e in got)
            expect_equal(
                sorted(counts.values()),
                [1],
                f"{visibility} event copies on {label}",
                requirement="EVT-2",
            )


@pytest.mark.req("EVT-3", "EVT-4")
async def test_event_content_per_action(crm: Crm) -> None:
    """EVT-3: created carries the record, updated exactly the set fields + updatedAt,
    archived/restored {archived, updatedAt}, deleted {}; version after the change (deleted:
    last + 1). EVT-4: via is api for REST, socket for mutate, with taskId null."""
    owner, mate = crm.org.team_of(2)
    watcher = await crm.client(mate, node=1)
    actor = await crm.client(owner, node=0)
    rest = crm.rest(owner)
    body = sample_record("escrow")
    created = await rest.create("escrow", body)
    record = created.record
    rid = record["id"]
    steps: list[tuple[Action, str, dict[str, Any]]] = [
        (Action.UPDATED, "api", {"status": "pending"}),
        (Action.ARCHIVED, "socket", {}),
        (Action.RESTORED, "api", {}),
        (Action.DELETED, "socket", {}),
    ]
    for action, via, changes in steps:
        if via == "api":
            call = rest.update("escrow", rid, changes) if changes else rest.restore("escrow", rid)
            response = await call
            expect(response.status in (200, 204), f"REST {action}", observed=response.body)
        else:
            op = {Action.ARCHIVED: Op.ARCHIVE, Action.DELETED: Op.DELETE}[action]
            payload = {"mutationId": uuid.uuid4().hex, "op": op.value}
            payload.update({"entityType": "escrow", "id": rid})
            ack = await actor.request(ClientEvent.MUTATE, payload)
            expect(ack.ok, f"mutate {op}", observed=ack.raw)
    events = await watcher.wait_for_count(_for_entity(rid), 5, 5.0)
    crm.exercised("EVT-3", *(a.value for a in Action))
    crm.exercised("EVT-4", "api", "socket")
    expect_equal(
        [e.name for e in events],
        [data_event_name("escrow", a) for a in Action],
        "event names in order",
        requirement="EVT-3",
    )
    for event in events:
        missing = sorted(_EVENT_FIELDS - set(event.payload))
        expect(
            not missing,
            f"{event.name} lacks fields",
            expected=sorted(_EVENT_FIELDS),
            observed=event.payload,
            requirement="EVT-3",
        )
        expect(is_wire_timestamp(event.get("timestamp")), "timestamp", observed=event.payload)
    by_action = {e.get("action"): e.payload for e in events}
    # The watcher is not the owner: the record as it may see it (RED-1).
    as_seen = {k: REDACTED if k in crm.sensitive("escrow") else v for k, v in record.items()}
    expect_equal(
        by_action["created"]["changes"],
        as_seen,
        "created: changes is the whole record",
        requirement="EVT-3",
    )
    expected_changes = {
        "updated": ({"status"}, 2),
        "archived": ({"archived"}, 3),
        "restored": ({"archived"}, 4),
    }
    for action_name, (fields, version) in expected_changes.items():
        payload = by_action[action_name]
        expect_equal(
            set(payload["changes"]),
            fields | {"updatedAt"},
            f"{action_name}: changes keys",
            requirement="EVT-3",
        )
        expect_equal(payload["version"], version, f"{action_name}: version", requirement="EVT-3")
    expect_equal(by_action["archived"]["changes"]["archived"], True, "archived: archived=true")
    expect_equal(by_action["restored"]["changes"]["archived"], False, "restored: archived=false")
    expect_equal(by_action["updated"]["changes"]["status"], "pending", "updated: the new value")
    expect_equal(
        (by_action["deleted"]["changes"], by_action["deleted"]["version"]),
        ({}, 5),
        "deleted: {} and last version + 1",
        requirement="EVT-3",
    )
    expected_via = {
        "created": "api",
        "updated": "api",
        "archived": "socket",
        "restored": "api",
        "deleted": "socket",
    }
    observed_via = {a: (p.get("via"), p.get("taskId")) for a, p in by_action.items()}
    expect_equal(
        observed_via,
        {a: (v, None) for a, v in expected_via.items()},
        "via and taskId per action",
        requirement="EVT-4",
    )


@pytest.mark.req("EVT-5")
async def test_event_follows_storage(crm: Crm) -> None:
    """EVT-5: a client that gets an event and reads the record sees at least its version."""
    owner, mate = crm.org.team_of(2)
    watcher = await crm.client(mate, node=1)
    reader = crm.rest(mate, node=1)
    rest = crm.rest(owner)
    record = await crm.create(rest, "lead")
    rid = record["id"]
    updates = 6

    async def writer() -> None:
        for score in range(updates):
            await rest.update("lead", rid, {"score": score})

    writing = asyncio.create_task(writer())
    stale: list[dict[str, Any]] = []
    name = data_event_name("lead", Action.UPDATED)
    for k in range(updates):
        event = await watcher.wait_for_count(
            lambda e: e.name == name and e.get("entityId") == rid, k + 1, 5.0
        )
        if len(event) <= k:
            break
        version = event[k].get("version")
        now = await reader.get("lead", rid)
        if not isinstance(version, int) or now.record.get("version", 0) < version:
            stale.append({"event": version, "read": now.record.get("version")})
    await writing
    expect_equal(len(watcher.received(name)), updates, "updated events received")
    expect(not stale, "REST read older than an event already received", observed=stale)


@pytest.mark.req("EVT-6")
async def test_one_field_update_is_small(crm: Crm) -> None:
    """EVT-6: a one-field `updated` event SHOULD serialise (compact JSON) under 2 KiB, even
    for a record carrying large notes and custom fields."""
    owner, mate = crm.org.team_of(2)
    watcher = await crm.client(mate, node=1)
    rest = crm.rest(owner)
    room = max(crm.limits.maxPayloadBytes // 4, 64)  # stay well inside the body limit
    bulky = {"notes": "n" * min(4000, room), "customFields": {"blob": "c" * min(3000, room)}}
    record = await crm.create(rest, "escrow", **bulky)
    changed = await rest.update("escrow", record["id"], {"status": "closed"})
    expect_equal(changed.status, 200, "update")
    event = await crm.wait_data_event(watcher, "escrow", "updated", record["id"])
    expect(event is not None, "no updated event arrived")
    size = len(json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode())
    if size >= _MAX_UPDATE_BYTES:
        raise CheckFailure(
            "updated event over 2 KiB",
            "a one-field change should not resend the record",
            expected=f"< {_MAX_UPDATE_BYTES} bytes",
            observed=f"{size} bytes",
            severity=Severity.SHOULD,
        )
    crm.remark("EVT-6", f"one-field updated event: {size} bytes of compact JSON")
