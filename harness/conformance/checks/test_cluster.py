"""CLU-1 (profile `cluster`): several nodes act as one — audience, exactly once, gapless seq,
replay, idempotency and connection limits across nodes. Needs two or more --crm-url."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from harness.client import AnomalyKind
from harness.spec import ClientEvent, ErrorCode

from ..check_api import Crm, sample_record
from ..failures import expect, expect_equal

pytestmark = pytest.mark.asyncio


@pytest.mark.req("CLU-1")
async def test_nodes_act_as_one(crm: Crm) -> None:
    """CLU-1: a change made on one node reaches the team on every node once, and nobody
    else; seq stays gapless with writers on all nodes; replay, idempotency keys and the
    per-user connection limit hold across nodes."""
    nodes = crm.nodes
    team = crm.org.team_of(nodes + 1)
    stranger = crm.org.agent()
    watchers = [await crm.client(agent, node=i) for i, agent in enumerate(team)]
    outsider = await crm.client(stranger, node=1)
    writes = [crm.create(crm.rest(agent, node=i), "lead") for i, agent in enumerate(team)]
    made = await asyncio.gather(*writes)
    for watcher in watchers:
        got = await watcher.wait_for_count("lead:created", len(made), 5.0)
        expect_equal(len(got), len(made), f"events on node of {watcher.label}")
    await asyncio.sleep(crm.quiet)
    stream = f"team:{team[0].team_id}"
    for watcher in watchers:
        expect_equal(len(watcher.received("lead:created")), len(made), "copies per socket")
        dupes = [a for a in watcher.tracker.anomalies if a.kind is not AnomalyKind.OUT_OF_ORDER]
        expect(not watcher.tracker.gaps() and not dupes, "gaps or duplicates across nodes",
               observed={"gaps": watcher.tracker.gaps(), "anomalies": dupes})  # fmt: skip
    expect(not outsider.received("lead:created"), "another team received cross-node events")
    replayer = await crm.client(team[0], node=nodes - 1, from_heads=False)
    ack = await replayer.request(ClientEvent.SYNC, {"cursors": {stream: 0}})
    expect_equal((ack.data.get("streams") or {}).get(stream, {}).get("replayed"), len(made),
                 "events replayed by another node")  # fmt: skip
    key = uuid.uuid4().hex
    body = sample_record("client", name="One Key Many Nodes")
    answers = await asyncio.gather(
        *(crm.rest(team[0], node=i).create("client", body, idempotency_key=key)
          for i in range(nodes))
    )  # fmt: skip
    expect_equal(sorted(a.status for a in answers), [200] * (nodes - 1) + [201],
                 "one key sent to every node")  # fmt: skip
    limit = crm.limits.maxConnectionsPerUser
    if limit <= 50:
        user = crm.org.agent()
        spread = [crm.realtime(user, node=i) for i in range(limit)]
        await asyncio.gather(*(c.try_connect() for c in spread))
        refused = [await crm.realtime(user, node=i).try_connect() for i in range(nodes)]
        codes = [f.code if f else None for f in refused]
        expect_equal(codes, [ErrorCode.TOO_MANY_CONNECTIONS.value] * nodes,
                     "connection limit counted across nodes")  # fmt: skip
