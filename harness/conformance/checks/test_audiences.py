"""Audiences on every path (issue 17): data events for every visibility × action × scope
(EVT-1), and the events that are not data events — presence (COL-1), notifications (COL-7),
AI task events (AI-3), record-room events (COL-9) — at every scope: the actor's teammates, a
user of another team of the same brokerage, a user of another brokerage."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from harness.client import RealtimeClient, ReceivedEvent, RecordPresence, submit_task
from harness.spec import (
    AI_TASK_EVENTS,
    VISIBILITIES,
    Action,
    ClientEvent,
    ErrorCode,
    Profile,
    ServerEvent,
    data_event_name,
)

from ..check_api import Crm
from ..failures import expect, expect_equal

pytestmark = pytest.mark.asyncio

_DELIVERY_S = 10.0  # how long a positive wait may last (only a failing server makes it wait)
# Who is in each visibility's audience, by scope (SPEC EVT-1).
_AUDIENCE = {
    "team": {"own", "team"},
    "broker": {"own", "team", "broker-other-team"},
    "private": {"own"},
}


async def _scoped(
    crm: Crm, *, own: bool = True
) -> tuple[dict[str, Any], dict[str, RealtimeClient]]:
    """An actor and one connected user per scope (own = a second socket of the actor, unless
    `own` is false: the actor is then not online yet)."""
    actor, mate = crm.org.team_of(2)
    agents = {
        "own": actor,
        "team": mate,
        "broker-other-team": crm.org.agent(crm.org.team(actor.broker_id)),
        "other-broker": crm.org.agent(),
    }
    listening = {s: a for s, a in agents.items() if own or s != "own"}
    connected = await asyncio.gather(*(crm.client(a, node=1) for a in listening.values()))
    return agents, dict(zip(listening, connected, strict=True))


def _event_of(name: str | None, entity_id: str) -> Callable[[ReceivedEvent], bool]:
    """Durable events about `entity_id` (named `name`, when given)."""
    return lambda e: (
        e.seq is not None and e.get("entityId") == entity_id and (name is None or e.name == name)
    )


@pytest.mark.req("EVT-1")
async def test_audience_for_every_action_and_scope(crm: Crm) -> None:
    """EVT-1: each of create, update, archive, restore and delete of a team, broker and private
    record reaches exactly the sockets of its audience — an audience wrong for one action only
    fails here. Changes alternate between REST and `mutate`."""
    agents, sockets = await _scoped(crm)
    actor = agents["own"]
    rest = crm.rest(actor)
    mutator = await crm.client(actor, node=0, from_heads=False)
    records = {v: await crm.create(rest, "lead", visibility=v) for v in VISIBILITIES}

    async def mutate(op: str, rid: str, **extra: Any) -> None:
        payload = {"mutationId": uuid.uuid4().hex, "op": op, "entityType": "lead", "id": rid}
        ack = await mutator.request(ClientEvent.MUTATE, {**payload, **extra})
        expect(ack.ok, f"mutate {op}", observed=ack.raw)

    for record in records.values():
        rid = record["id"]
        expect_equal((await rest.update("lead", rid, {"score": 7})).status, 200, "update")
        await mutate("archive", rid)
        expect_equal((await rest.restore("lead", rid)).status, 200, "restore")
        await mutate("delete", rid)
    last = data_event_name("lead", Action.DELETED)
    for record in records.values():
        got = await sockets["own"].wait_for(_event_of(last, record["id"]), _DELIVERY_S)
        expect(got is not None, "the actor's own socket missed a deleted event")
    await asyncio.sleep(crm.quiet)
    wrong: list[dict[str, Any]] = []
    for visibility, record in records.items():
        for scope, socket in sockets.items():
            events = socket.received(_event_of(None, record["id"]))
            seen = {e.get("action") for e in events}
            expected = {a.value for a in Action} if scope in _AUDIENCE[visibility] else set()
            if seen != expected:
                wrong.append({"visibility": visibility, "scope": scope,
                              "expected": sorted(expected), "received": sorted(seen)})  # fmt: skip
    crm.exercised("EVT-1", *(f"{v}:{a.value}" for v in VISIBILITIES for a in Action))
    crm.exercised("EVT-1", *(f"scope:{s}" for s in sockets))
    expect(not wrong, "data events reached the wrong audience for some actions",
           observed=wrong)  # fmt: skip


@pytest.mark.req("COL-1", "COL-7", "AI-3", "COL-9")
async def test_non_data_events_stay_in_scope(crm: Crm) -> None:
    """COL-1: presence reaches the team, not the brokerage's other teams nor other brokers.
    COL-7: a notification reaches the owner alone. AI-3: task events reach the task's user
    alone. COL-9: a team record's room events never reach a user of another team of the
    brokerage, who may not view it."""
    if not crm.target.declares(Profile.COLLAB):
        crm.not_run("the target does not declare profile 'collab'")
    agents, sockets = await _scoped(crm, own=False)  # the actor's own presence is MAY (COL-1)
    actor = agents["own"]
    actor_socket = await crm.client(actor, node=0)
    online = await sockets["team"].wait_for(
        lambda e: e.name == ServerEvent.PRESENCE_ONLINE and e.get("userId") == actor.user_id,
        _DELIVERY_S,
    )
    expect(online is not None, "a teammate got no user:presence:online", requirement="COL-1")
    rest = crm.rest(actor)
    record = await crm.create(rest, "escrow", visibility="broker")
    changed = await crm.rest(agents["team"], node=1).update("escrow", record["id"], {"notes": "n"})
    expect_equal(changed.status, 200, "a teammate's update", requirement="COL-7")
    note = await actor_socket.wait_for(ServerEvent.NOTIFICATION, _DELIVERY_S)
    expect(note is not None, "the owner got no notification", requirement="COL-7")
    if crm.target.declares(Profile.AI):
        task = await submit_task(rest, "import_escrows", {"rows": [], "stepDelayMs": 0})
        expect(task.accepted, "an AI task was not accepted", requirement="AI-3")
        done = await actor_socket.wait_for(ServerEvent.AI_TASK_COMPLETED, _DELIVERY_S)
        expect(done is not None, "the task's user got no ai:task:completed", requirement="AI-3")
    team_record = await crm.create(rest, "escrow")
    sibling = RecordPresence(sockets["broker-other-team"], "escrow", team_record["id"])
    refused = await sibling.view()
    expect_equal(refused.code, ErrorCode.NOT_FOUND.value, "another team views a team record",
                 requirement="COL-9")  # fmt: skip
    room = RecordPresence(actor_socket, "escrow", team_record["id"])
    for step in (room.view(), room.start_editing(), room.typing("start"), room.stop_editing()):
        expect((await step).ok, "a room action of the record's owner was refused",
               requirement="COL-9")  # fmt: skip
    await asyncio.sleep(crm.quiet)
    kinds = {
        "COL-1": lambda e: e.name.startswith("user:presence:") and e.get("userId") == actor.user_id,
        "COL-7": lambda e: e.name == ServerEvent.NOTIFICATION,
        "AI-3": lambda e: e.name in AI_TASK_EVENTS,
        "COL-9": lambda e: e.get("entityId") == team_record["id"] and e.seq is None,
    }  # fmt: skip
    outside = {"COL-1": ("broker-other-team", "other-broker"),
               "COL-7": ("team", "broker-other-team", "other-broker"),
               "AI-3": ("team", "broker-other-team", "other-broker"),
               "COL-9": ("broker-other-team", "other-broker")}  # fmt: skip
    if not crm.target.declares(Profile.AI):
        del outside["AI-3"]
    for rid, scopes in outside.items():
        for scope in scopes:
            leaked = sockets[scope].received(kinds[rid])
            expect(not leaked, f"{rid} events reached a user at scope {scope}",
                   observed=[(e.name, e.payload) for e in leaked][:3], requirement=rid)  # fmt: skip
        crm.exercised(rid, *(f"scope:{s}" for s in ("team", *scopes)))
    crm.exercised("COL-9", "viewing", "editing", "typing")
