"""Side paths that real servers get wrong (issue 17): a stream that loses a seq now and then
(STR-1 over dozens of events per stream and every kind of durable event), a refused request
that would have partly succeeded (REC-7, MUT-1), and idempotency keys per user (MUT-2)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable
from typing import Any

import pytest

from harness.client import AnomalyKind, RealtimeClient, submit_task
from harness.spec import ClientEvent, ErrorCode, Profile

from ..check_api import Crm, is_durable, sample_record
from ..failures import expect, expect_equal

pytestmark = pytest.mark.asyncio

_PER_STREAM = 24  # enough to see a seq lost once every few events
_DELIVERY_S = 10.0


async def _bounded(jobs: list[Awaitable[Any]], width: int = 8) -> list[Any]:
    gate = asyncio.Semaphore(width)

    async def one(job: Awaitable[Any]) -> Any:
        async with gate:
            return await job

    return list(await asyncio.gather(*(one(j) for j in jobs)))


@pytest.mark.req("STR-1")
async def test_seq_gapless_over_dozens_per_stream(crm: Crm) -> None:
    """STR-1: dozens of durable events on each of a user's three streams — data events by REST
    and `mutate` from two users on two nodes, notifications and AI task events on the user:
    stream — arrive with every seq from the head on, none skipped, none doubled."""
    owner, mate = crm.org.team_of(2)
    watcher = await crm.client(owner, node=1)
    heads = watcher.tracker.cursors()
    rest, mate_rest = crm.rest(owner, node=0), crm.rest(mate, node=1)
    mutator = await crm.client(mate, node=0, from_heads=False)
    half = _PER_STREAM // 2
    visibilities = [v for v in ("team", "broker", "private") for _ in range(half)]
    made = await _bounded([crm.create(rest, "lead", visibility=v) for v in visibilities])

    async def mutate_update(record: dict[str, Any], score: int) -> None:
        payload = {"mutationId": uuid.uuid4().hex, "op": "update", "entityType": "lead",
                   "id": record["id"], "changes": {"score": score}}  # fmt: skip
        await mutator.request(ClientEvent.MUTATE, payload)  # a refusal only means fewer events

    shared = [r for r in made if r["visibility"] != "private"]
    jobs: list[Awaitable[Any]] = [mutate_update(r, i) for i, r in enumerate(shared)]
    own = [r for r in made if r["visibility"] == "private"]
    jobs += [rest.update("lead", r["id"], {"score": 1}) for r in own]
    kinds = ["data"]
    if crm.target.declares(Profile.COLLAB):  # a teammate's change notifies the owner (COL-7)
        jobs += [mate_rest.update("lead", r["id"], {"source": "x"}) for r in shared[:half]]
        kinds.append("notification")
    await _bounded(jobs)
    if crm.target.declares(Profile.AI):
        task = await submit_task(rest, "import_escrows", {"rows": [], "stepDelayMs": 0})
        expect(task.accepted, "an AI task was not accepted", observed=task.response.body)
        kinds.append("ai")
    streams = owner.streams
    wanted = {s: len(_events_for(watcher, s)) for s in streams}
    deadline = asyncio.get_running_loop().time() + _DELIVERY_S
    while asyncio.get_running_loop().time() < deadline:
        counts = {s: len(_events_for(watcher, s)) for s in streams}
        if all(counts[s] >= _PER_STREAM for s in streams) and counts == wanted:
            break
        wanted = counts
        await asyncio.sleep(max(crm.quiet, 0.2))
    await asyncio.sleep(crm.quiet)
    counts = {s: len(_events_for(watcher, s)) for s in streams}
    expect(all(c >= _PER_STREAM for c in counts.values()), "too few events per stream arrived",
           expected=f"≥ {_PER_STREAM} per stream", observed=counts)  # fmt: skip
    firsts = {s: next(iter(watcher.tracker.seqs(s)), None) for s in streams}
    problems = {
        "gaps": watcher.tracker.gaps(),
        "conflicts": [repr(a) for a in watcher.tracker.anomalies
                      if a.kind in (AnomalyKind.CONFLICT, AnomalyKind.BAD_SEQ)],
        "first seq after the head": {s: f for s, f in firsts.items() if f != heads.get(s, 0) + 1},
    }  # fmt: skip
    crm.exercised("STR-1", "team:data", "broker:data", "user:data", "dozens-per-stream",
                  *(f"user:{k}" for k in kinds if k != "data"))  # fmt: skip
    expect_equal(problems, {"gaps": {}, "conflicts": [], "first seq after the head": {}},
                 f"seqs of {sum(counts.values())} durable events on three streams")  # fmt: skip


def _events_for(client: RealtimeClient, stream: str) -> list[int]:
    return client.tracker.seqs(stream)


_PARTLY_VALID_CREATE = {"name": "Half Right", "source": "web", "score": 101}  # score > 100
_PARTLY_VALID_UPDATE = {"status": "qualified", "source": "fair", "score": "high"}


@pytest.mark.req("REC-7", "MUT-1")
async def test_partly_valid_refusals_change_nothing(crm: Crm) -> None:
    """REC-7 and MUT-1: a request whose fields are all valid but one is refused whole: no field
    is written (the record reads back unchanged), nothing is created, nothing is emitted —
    over REST and over `mutate`, for a create and an update."""
    owner, mate = crm.org.team_of(2)
    watcher = await crm.client(mate, node=1)
    actor = await crm.client(owner, node=0, from_heads=False)
    rest = crm.rest(owner)
    record = await crm.create(rest, "lead", status="new")
    await crm.wait_data_event(watcher, "lead", "created", record["id"])
    mark = watcher.mark()
    answers = {
        ("REC-7", "partly-valid:create"): await rest.create("lead", _PARTLY_VALID_CREATE),
        ("REC-7", "partly-valid:update"): await rest.update("lead", record["id"],
                                                            _PARTLY_VALID_UPDATE),
    }  # fmt: skip
    acks = {
        ("MUT-1", "partly-valid:create"): {"op": "create", "changes": _PARTLY_VALID_CREATE},
        ("MUT-1", "partly-valid:update"): {"op": "update", "id": record["id"],
                                           "changes": _PARTLY_VALID_UPDATE},
    }  # fmt: skip
    for (rid, path), response in answers.items():
        expect_equal((response.status, response.code), (400, ErrorCode.VALIDATION_ERROR.value),
                     f"REST {path}", requirement=rid)  # fmt: skip
        crm.exercised(rid, path)
    for (rid, path), extra in acks.items():
        payload = {"mutationId": uuid.uuid4().hex, "entityType": "lead", **extra}
        ack = await actor.request(ClientEvent.MUTATE, payload)
        expect_equal(ack.code, ErrorCode.VALIDATION_ERROR.value, f"mutate {path}",
                     requirement=rid)  # fmt: skip
        crm.exercised(rid, path)
    await asyncio.sleep(crm.quiet)
    after = await rest.get("lead", record["id"])
    for rid in ("REC-7", "MUT-1"):
        expect_equal(after.record, record, "the record after partly valid refused updates",
                     requirement=rid)  # fmt: skip
    emitted = watcher.received(is_durable, since=mark)
    expect(not emitted, "a refused request emitted events", observed=[e.payload for e in emitted],
           requirement="REC-7")  # fmt: skip
    listed = await rest.list("lead")
    expect_equal(listed.body.get("total"), 1, "records after partly valid refused creates",
                 requirement="REC-7")  # fmt: skip


@pytest.mark.req("MUT-2")
async def test_key_space_is_per_user(crm: Crm) -> None:
    """MUT-2: keys are per user: another user sending a key someone else used — as
    `Idempotency-Key` or as `mutationId`, with another body — gets their own change made (not
    the first user's record, not IDEMPOTENCY_KEY_REUSED)."""
    first, second = crm.org.team_of(2)
    key_rest, key_mutate = uuid.uuid4().hex, uuid.uuid4().hex
    rests = {a.user_id: crm.rest(a, node=i) for i, a in enumerate((first, second))}
    sockets = {a.user_id: await crm.client(a, node=i, from_heads=False)
               for i, a in enumerate((first, second))}  # fmt: skip
    made: dict[str, list[Any]] = {}
    for agent in (first, second):
        body = sample_record("client", name=f"Key of {agent.user_id}")
        by_rest = await rests[agent.user_id].create("client", body, idempotency_key=key_rest)
        ack = await sockets[agent.user_id].request(ClientEvent.MUTATE, {
            "mutationId": key_mutate, "op": "create", "entityType": "client",
            "changes": sample_record("client", name=f"Mutation of {agent.user_id}")})  # fmt: skip
        made[agent.user_id] = [(by_rest.status, by_rest.record.get("ownerId")),
                               (ack.code, (ack.data.get("data") or {}).get("ownerId"),
                                ack.data.get("duplicate"))]  # fmt: skip
    expect_equal(made, {a.user_id: [(201, a.user_id), (None, a.user_id, False)]
                        for a in (first, second)},
                 "one key sent by two users: each gets their own change")  # fmt: skip
    listed = await rests[first.user_id].list("client")
    expect_equal(listed.body.get("total"), 4, "records made by two users with the same keys")
    crm.exercised("MUT-2", "two-users")
