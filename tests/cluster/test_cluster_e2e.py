"""Three nodes acting as one server (CLU-1), whichever node a socket or a REST call reaches.

Sockets of one team are spread over the three nodes; REST calls go to nodes where the
caller has no socket. Checked across nodes: audiences (EVT-1), exactly-once (EVT-2),
per-recipient redaction (RED-1..3), gapless seq under concurrent writers on different nodes
(STR-1), replay after moving to another node (STR-2, STR-5), idempotency (MUT-2) and the
connection limit (LIM-3).
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import httpx
import pytest
from cluster_sockets import (
    CLUSTER_LIMITS,
    CLUSTER_SECRET,
    Sockets,
    data_events,
    eventually,
    seqs_of,
    sockets,
)

from harness.client import Org, RestResponse, TargetConnection, TokenFactory
from harness.conformance import Verdict, run
from harness.spec import (
    INFO_PATH,
    REDACTED,
    Action,
    EntityType,
    ErrorCode,
    Profile,
    data_event_name,
    requirements_for,
)
from reference_server.cluster import RunningCluster

pytestmark = pytest.mark.cluster  # PostgreSQL and/or Redis

ESCROW_CREATED = data_event_name(EntityType.ESCROW, Action.CREATED)
ESCROW_UPDATED = data_event_name(EntityType.ESCROW, Action.UPDATED)
DELIVERY_SECONDS = 5.0


async def _everyone_has(socks: Sockets, labels: list[str], stream: str, count: int) -> bool:
    return all(len(data_events(socks.clients[label], stream)) >= count for label in labels)


async def test_audiences_redaction_and_exactly_once_across_nodes(
    cluster: RunningCluster,
) -> None:
    """CLU-1, EVT-1, EVT-2, RED-1, RED-2, RED-3: team/broker/private audiences over 3 nodes."""
    n1, n2, n3 = cluster.urls
    org = Org()
    team = org.team()
    owner, mate, mate2 = org.agent(team), org.agent(team), org.agent(team)
    same_broker = org.agent(org.team(team[0]))
    outsider = org.agent()
    async with sockets(CLUSTER_SECRET) as socks:
        await socks.open("owner@1", owner, n1)
        await socks.open("owner@2", owner, n2)  # a second tab on another node
        await socks.open("mate@2", mate, n2)
        await socks.open("mate@3", mate, n3)
        await socks.open("mate2@3", mate2, n3)
        await socks.open("broker@1", same_broker, n1)
        await socks.open("outsider@2", outsider, n2)
        owner_rest = await socks.rest(owner, n3)  # the owner has no socket on node-3

        team_made = await owner_rest.create(
            EntityType.ESCROW, {"address": "1 Main St", "myCommission": 1200}
        )
        broker_made = await owner_rest.create(
            EntityType.LISTING,
            {"address": "2 Oak Ave", "listingCommission": 3, "visibility": "broker"},
        )
        private_made = await owner_rest.create(
            EntityType.CLIENT, {"name": "Pat", "ssnLast4": "1234", "visibility": "private"}
        )
        assert [r.status for r in (team_made, broker_made, private_made)] == [201, 201, 201]
        team_labels = ["owner@1", "owner@2", "mate@2", "mate@3", "mate2@3"]
        await eventually(
            lambda: _everyone_has(socks, team_labels, f"team:{team[1]}", 1), DELIVERY_SECONDS
        )
        await asyncio.sleep(0.5)  # let any stray copy or leak arrive

        def names(label: str) -> list[str]:
            return sorted(e.name for e in socks.clients[label].events if "seq" in e.payload)

        assert (
            names("owner@1")
            == names("owner@2")
            == sorted([ESCROW_CREATED, "listing:created", "client:created"])
        )
        assert (
            names("mate@2")
            == names("mate@3")
            == names("mate2@3")
            == sorted([ESCROW_CREATED, "listing:created"])
        )
        assert names("broker@1") == ["listing:created"]
        assert names("outsider@2") == []

        def escrow_seen_by(label: str) -> dict:
            (event,) = socks.clients[label].received(ESCROW_CREATED)
            return dict(event.payload)

        for label in ("owner@1", "owner@2"):
            assert escrow_seen_by(label)["changes"]["myCommission"] == 1200
        for label in ("mate@2", "mate@3", "mate2@3"):
            assert escrow_seen_by(label)["changes"]["myCommission"] == REDACTED
        ids = {(escrow_seen_by(x)["eventId"], escrow_seen_by(x)["seq"]) for x in team_labels}
        assert len(ids) == 1, "one event: same eventId and seq for every recipient (RED-3)"


async def test_concurrent_writers_on_every_node_keep_seq_gapless(cluster: RunningCluster) -> None:
    """CLU-1, STR-1, EVT-2, EVT-5: updates of one record and creates of others, all in flight
    at once through the three nodes; every socket on every node gets each seq exactly once,
    the stream has no gap, and the record's version counts every update."""
    org = Org()
    team = org.team()
    writers = [org.agent(team) for _ in range(3)]
    async with sockets(CLUSTER_SECRET) as socks:
        watchers = [await socks.open(f"w{i}", writers[i], cluster.urls[i]) for i in range(3)]
        rests = [await socks.rest(writers[i], cluster.urls[(i + 1) % 3]) for i in range(3)]
        made = await rests[0].create(EntityType.ESCROW, {"address": "9 Elm St"})
        record_id = made.record["id"]
        updates_per_writer, creates_per_writer = 8, 4
        calls = [
            rests[i].update(EntityType.ESCROW, record_id, {"notes": f"{i}-{n}"})
            for i in range(3)
            for n in range(updates_per_writer)
        ] + [
            rests[i].create(EntityType.LEAD, {"name": f"Lead {i}-{n}"})
            for i in range(3)
            for n in range(creates_per_writer)
        ]
        results: list[RestResponse] = await asyncio.gather(*calls)
        assert sorted({r.status for r in results}) == [200, 201]
        total = 1 + 3 * (updates_per_writer + creates_per_writer)
        stream = f"team:{team[1]}"
        labels = [w.label for w in watchers]
        assert await eventually(
            lambda: _everyone_has(socks, labels, stream, total), DELIVERY_SECONDS
        )
        await asyncio.sleep(0.3)
        for watcher in watchers:
            received = data_events(watcher, stream)
            assert seqs_of(received) == list(range(1, total + 1)), watcher.label
            assert len({e.payload["eventId"] for e in received}) == total
        final = await rests[2].get(EntityType.ESCROW, record_id)
        assert final.record["version"] == 1 + 3 * updates_per_writer


async def test_replay_after_moving_to_another_node(cluster: RunningCluster) -> None:
    """CLU-1, STR-2, STR-5: a client that leaves node-3 and syncs on node-1 gets what it
    missed, once; the events were written through node-2."""
    n1, n2, n3 = cluster.urls
    org = Org()
    team = org.team()
    mover, writer = org.agent(team), org.agent(team)
    stream = f"team:{team[1]}"
    async with sockets(CLUSTER_SECRET) as socks:
        client = await socks.open("mover", mover, n3)
        rest = await socks.rest(writer, n2)
        await rest.create(EntityType.LEAD, {"name": "First"})
        assert await eventually(lambda: len(data_events(client, stream)) == 1, DELIVERY_SECONDS)
        await client.disconnect()
        for n in range(4):
            assert (await rest.create(EntityType.LEAD, {"name": f"Missed {n}"})).status == 201
        client.url = n1
        ack = await client.reconnect(sync=True)
        assert ack is not None and ack.ok, ack
        assert ack.data["streams"][stream] == {"head": 5, "replayed": 4}
        assert client.tracker.gaps() == {}
        assert client.tracker.seqs(stream) == [1, 2, 3, 4, 5]
        assert client.tracker.duplicates() == []


async def test_idempotency_key_shared_by_all_nodes(cluster: RunningCluster) -> None:
    """CLU-1, MUT-2: one Idempotency-Key sent to three nodes at once changes the data once."""
    org = Org()
    team = org.team()
    agent, watcher = org.agent(team), org.agent(team)
    key = uuid.uuid4().hex
    async with sockets(CLUSTER_SECRET) as socks:
        client = await socks.open("watcher", watcher, cluster.urls[0])
        rests = [await socks.rest(agent, url) for url in cluster.urls]
        body = {"name": "Once Only"}
        answers = await asyncio.gather(
            *(r.create(EntityType.LEAD, body, idempotency_key=key) for r in rests)
        )
        assert sorted(a.status for a in answers) == [200, 200, 201]
        assert len({a.record["id"] for a in answers}) == 1
        replayed = [a for a in answers if a.headers.get("Idempotent-Replayed") == "true"]
        assert len(replayed) == 2
        await asyncio.sleep(1.0)
        assert len(client.received("lead:created")) == 1
        listed = await rests[1].list(EntityType.LEAD)
        assert listed.data is not None and len(listed.data) == 1


async def test_connection_limit_holds_across_nodes(cluster: RunningCluster) -> None:
    """CLU-1, LIM-3: the per-user limit counts sockets on every node; a closed one frees a
    slot for any node within 2 s."""
    limit = CLUSTER_LIMITS.maxConnectionsPerUser
    agent = Org().agent()
    async with sockets(CLUSTER_SECRET) as socks:
        opened = [await socks.open(f"s{i}", agent, cluster.urls[i % 3]) for i in range(limit)]
        for url in cluster.urls:
            assert await socks.try_open(agent, url) == ErrorCode.TOO_MANY_CONNECTIONS, url
        await opened[0].disconnect()

        async def accepted() -> bool:
            return await socks.try_open(agent, cluster.urls[2]) is None

        assert await eventually(accepted, within=2.0, step=0.2)


@pytest.mark.slow
def test_conformance_suite_passes_on_three_nodes(cluster: RunningCluster, tmp_path: Path) -> None:
    """CLU-1, CLU-2 and every requirement of every profile the nodes declare (core, collab,
    ai, metrics) plus cluster: the conformance suite given the three node URLs, its checks
    spreading sockets and calls over the nodes (presence, viewers, locks, AI tasks across
    nodes included). Its CLU-2 check crashes node-1 (SIGKILL), where its reader is connected,
    and starts it again. Runs last in this module: the crash ends the sockets node-1 held."""

    def crash_and_restart() -> None:
        cluster.nodes[0].kill()
        cluster.nodes[0].start()

    declared = httpx.get(cluster.urls[0] + INFO_PATH, timeout=5).json()["profiles"]
    assert Profile.CORE.value in declared
    profiles = [*declared, Profile.CLUSTER.value]
    connection = TargetConnection(tuple(cluster.urls), TokenFactory(CLUSTER_SECRET))
    outcome = run(connection, profiles=profiles,
                  report_dir=tmp_path, restart=crash_and_restart,
                  extra_pytest_args=["-p", "no:timeout"])  # fmt: skip
    assert outcome.errors == []
    verdicts = outcome.verdicts()
    wanted = {r.id for r in requirements_for(*profiles)}
    assert wanted <= set(verdicts)
    not_passed = {
        rid: v.value for rid, v in verdicts.items() if rid in wanted and v != Verdict.PASS
    }
    assert outcome.result is not None
    # What failed and what was observed, so that a failure in a loaded run can be understood.
    reasons = {rid: outcome.result.requirements[rid].to_json()["tests"] for rid in not_passed}
    # LIM-6 (a SHOULD): the suite cannot overload a node without a small connection budget.
    assert not_passed == {"LIM-6": "not-run"}, reasons
