"""Fuzzing (issue 17): generated valid and invalid variations of every client event (Hypothesis)
and of every REST call (schemathesis over the OpenAPI document), time-bounded
(`--fuzz-seconds`, half each) and reproducible from the seed the report prints
(`--fuzz-seed`). Invariants: no INTERNAL / 5xx, the outcome the spec gives for the case, a
refused request changes and emits nothing (read back at the end: versions and counts must
match the accepted requests exactly), and no socket is dropped."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from harness.client import Ack, RealtimeClient, ReceivedEvent, RestClient, RestResponse
from harness.spec import ENTITY_TYPES, ErrorCode

from ..check_api import Crm
from ..failures import expect, expect_equal
from ..fuzz import (
    ANSWERED,
    OK,
    REFUSED,
    FuzzCase,
    client_event_cases,
    draw_for,
)
from ..fuzz_rest import RestCase, rest_cases

pytestmark = pytest.mark.asyncio

_SENDERS = 4  # sockets of four teammates: four rate-limit buckets
_MAX_KEY = 40  # a generated mutationId is made unique per case below 64 characters
# Sent whatever the time budget: a seed reproduces at least these cases on a busy machine too.
_MIN_SOCKET_CASES = 40
_MIN_REST_CASES = 40  # one round: every (record route, positive|negative) once
_DELIVERY_S = 10.0


def _unique(case: FuzzCase, index: int) -> Any:
    """Hypothesis repeats values: a repeated mutationId would be a (right) duplicate."""
    payload = case.payload
    if isinstance(payload, dict) and isinstance(payload.get("mutationId"), str):
        key = payload["mutationId"]
        if len(key) <= _MAX_KEY:
            return {**payload, "mutationId": f"{key}-{index}"}
    return payload


def _updated(entity_id: str) -> Callable[[ReceivedEvent], bool]:
    return lambda e: (
        e.seq is not None and e.get("entityId") == entity_id and (e.get("action") == "updated")
    )


def _judge(case: FuzzCase, ack: Ack) -> str | None:
    """What is wrong with the answer to `case`, or None."""
    if ack.timed_out:
        return "no ack"
    if ack.code == ErrorCode.INTERNAL.value:
        return "INTERNAL"
    if case.expect == ANSWERED or ack.code == ErrorCode.RATE_LIMITED.value:
        return None
    if case.expect == OK:
        return None if ack.ok else f"refused {ack.code}, expected ok"
    if ack.ok:
        return f"accepted, expected {case.expect}"
    if case.expect != REFUSED and ack.code != case.expect:
        return f"refused {ack.code}, expected {case.expect}"
    return None


@pytest.mark.req("LIM-5", "MUT-1")
async def test_fuzz_client_events(crm: Crm) -> None:
    """LIM-5, MUT-1: generated valid and invalid (mostly partly valid) payloads of every client
    event, from four sockets: each gets the answer the spec gives (never INTERNAL, never no
    ack); a refused mutate changes and emits nothing; no socket is dropped."""
    budget = crm.target.fuzz_seconds / 2
    if budget <= 0:
        crm.not_run("fuzzing is off (--fuzz-seconds 0)")
    seed = crm.target.fuzz_seed
    *team, watcher_agent = crm.org.team_of(_SENDERS + 1)
    owner_rest = crm.rest(team[0])
    records = {t: (await crm.create(owner_rest, t))["id"] for t in ENTITY_TYPES}
    watcher = await crm.client(watcher_agent, node=1)
    senders = [await crm.client(a, node=i, from_heads=False) for i, a in enumerate(team)]
    strategy = client_event_cases(records, team[0].streams[:2])  # streams all senders share
    cases = await asyncio.to_thread(draw_for, strategy, seed, budget / 2, 2000, _MIN_SOCKET_CASES)
    wrong: list[dict[str, Any]] = []
    accepted: Counter[tuple[str, str]] = Counter()  # (kind, entity type or record id)
    deadline = asyncio.get_running_loop().time() + budget
    sent = 0

    async def send(socket: RealtimeClient, index: int, case: FuzzCase) -> None:
        ack = await socket.request(case.event, _unique(case, index), timeout=5.0)
        problem = _judge(case, ack)
        if problem is not None:
            wrong.append({"case": index, "label": case.label, "problem": problem,
                          "sent": case.payload, "ack": ack.raw})  # fmt: skip
        if ack.ok and case.target is not None:
            accepted["update", case.target] += 1
        elif ack.ok and case.entity_type is not None:
            visibility = (case.payload.get("changes") or {}).get("visibility")
            if visibility != "private" or socket is senders[0]:
                accepted["create", case.entity_type] += 1

    for start in range(0, len(cases), _SENDERS):
        if asyncio.get_running_loop().time() > deadline and start >= _MIN_SOCKET_CASES:
            break
        batch = cases[start : start + _SENDERS]
        await asyncio.gather(*(send(senders[(start + i) % _SENDERS], start + i, c)
                               for i, c in enumerate(batch)))  # fmt: skip
        sent += len(batch)
    await asyncio.sleep(crm.quiet)
    crm.exercised("LIM-5", "fuzz:client-events")
    crm.remark("LIM-5", f"fuzz seed {seed}: {sent} generated client events "
                        f"(reproduce with --fuzz-seed {seed})")  # fmt: skip
    expect(not wrong, f"answers to generated client events (seed {seed})", observed=wrong[:5],
           requirement="LIM-5")  # fmt: skip
    # The watcher sends nothing: its drop is a heartbeat missed by a starved client, and
    # `_updates_seen` recovers what it missed by sync.
    dropped = [s.label for s in senders if not s.connected]
    expect(not dropped, "generated input dropped sockets", observed=dropped, requirement="LIM-5")
    for entity_type, rid in records.items():
        now = await owner_rest.get(entity_type, rid)
        updates = accepted["update", rid]
        events = await _updates_seen(crm, "LIM-5", watcher, rid, updates)
        expect_equal((now.record.get("version"), len(events)), (1 + updates, updates),
                     f"{entity_type}: version and updated events after {updates} accepted "
                     f"updates among refused ones (seed {seed})", requirement="MUT-1")  # fmt: skip
        listed = await owner_rest.list(entity_type, limit=200)
        expect_equal(listed.body.get("total"), 1 + accepted["create", entity_type],
                     f"{entity_type}s after accepted and refused creates (seed {seed})",
                     requirement="MUT-1")  # fmt: skip


async def _updates_seen(
    crm: Crm, requirement: str, watcher: RealtimeClient, rid: str, updates: int
) -> list[ReceivedEvent]:
    """The updated events of `rid` the watcher got, live or, after a dropped connection, by
    replay (STR-2): what the stream holds is what is judged, not the watcher's luck."""
    if not watcher.connected:
        crm.remark(requirement, "the fuzz watcher's connection dropped; its events came by sync")
        await watcher.reconnect(sync=True, timeout=_DELIVERY_S)
    if updates:  # a busy server delivers late: wait for them, then judge
        await watcher.wait_for_count(_updated(rid), updates, _DELIVERY_S)
    return watcher.received(_updated(rid))


async def _send_rest(rest: RestClient, case: RestCase) -> RestResponse | None:
    """The case as HTTP; None when HTTP cannot carry it as generated (a header value beyond
    ASCII, or a byte h11 refuses)."""
    if not all(v.isascii() for v in case.headers.values()):
        return None
    body = case.body
    if isinstance(body, bytes | bytearray):
        content: bytes | str | None = bytes(body)
    else:
        content = json.dumps(body) if body is not None else None
    try:
        return await rest.raw(case.method, case.path, content=content, headers=case.headers,
                              params=case.query)  # fmt: skip
    except httpx.LocalProtocolError:
        return None


@pytest.mark.req("REC-7")
async def test_fuzz_rest_calls(crm: Crm) -> None:
    """REC-7: schemathesis' positive and negative cases of every record route (create, update,
    read, list; the caller's own token): never a 5xx other than 503 SERVER_BUSY (LIM-6), and a
    refused change changes and emits nothing — the fixed records' versions and updated events,
    and the counts of records, match the accepted requests exactly."""
    budget = crm.target.fuzz_seconds / 2
    if budget <= 0:
        crm.not_run("fuzzing is off (--fuzz-seconds 0)")
    seed = crm.target.fuzz_seed
    owner, mate = crm.org.team_of(2)
    rest = crm.rest(owner)
    records = {t: (await crm.create(rest, t))["id"] for t in ENTITY_TYPES}
    watcher = await crm.client(mate, node=1)
    cases = await asyncio.to_thread(rest_cases, crm.token(owner), records, seed, budget / 2)
    deadline = asyncio.get_running_loop().time() + budget / 2
    wrong: list[dict[str, Any]] = []
    accepted: Counter[tuple[str, str]] = Counter()
    sent = 0
    for index, case in enumerate(cases):
        if asyncio.get_running_loop().time() > deadline and index >= _MIN_REST_CASES:
            break
        response = await _send_rest(rest, case)
        if response is None:
            continue
        sent += 1
        busy = response.status == 503 and response.code == ErrorCode.SERVER_BUSY.value
        if response.status >= 500 and not busy:
            wrong.append({"case": index, "request": f"{case.method} {case.path}",
                          "query": case.query, "body": repr(case.body)[:300],
                          "status": response.status, "answer": response.body})  # fmt: skip
        replayed = response.headers.get("Idempotent-Replayed") == "true"
        if response.status < 300 and not replayed:
            if case.target is not None:
                accepted["update", case.target] += 1
            elif case.entity_type is not None:
                accepted["create", case.entity_type] += 1
    await asyncio.sleep(crm.quiet)
    crm.exercised("REC-7", "fuzz:rest")
    crm.remark("REC-7", f"fuzz seed {seed}: {sent} generated REST calls "
                        f"(reproduce with --fuzz-seed {seed})")  # fmt: skip
    expect(not wrong, f"5xx answers to generated REST calls (seed {seed})", observed=wrong[:5])
    for entity_type, rid in records.items():
        now = await rest.get(entity_type, rid)
        updates = accepted["update", rid]
        events = await _updates_seen(crm, "REC-7", watcher, rid, updates)
        expect_equal((now.record.get("version"), len(events)), (1 + updates, updates),
                     f"{entity_type}: version and updated events after {updates} accepted "
                     f"generated PATCHes among refused ones (seed {seed})")  # fmt: skip
        listed = await rest.list(entity_type, limit=200, include_archived=True)
        expect_equal(listed.body.get("total"), 1 + accepted["create", entity_type],
                     f"{entity_type}s after generated creates (seed {seed})")  # fmt: skip
