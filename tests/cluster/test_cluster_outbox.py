"""A node that dies between commit and publish: its events still reach every other node's
sockets live, once each (CLU-1, EVT-2, STR-2; issue #14). The crash points live in the test
entry point `crash_node.py`, never in the real server."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx
import pandas as pd
import pytest
import redis.asyncio as aioredis
from cluster_sockets import CLUSTER_SECRET, Sockets, eventually, sockets
from crash_kit import CrashableNode, CrashJournal

from harness.client import Org, RealtimeClient, ReceivedEvent
from harness.load import LoadConfig, Workload, run_load
from harness.spec import METRICS_PATH, EntityType
from reference_server.cluster import RunningCluster, start_cluster
from reference_server.realtime.outbox import RELAY_LEASE, OutboxTimings
from tests.services import RedisNamespace

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

LEAD = EntityType.LEAD
GRACE_S = OutboxTimings().grace_seconds
LEASE_S = OutboxTimings().lease_seconds
CRASH_WITHIN_S = 15.0  # arming to death: the held changes must first reach the node
RECOVERY_WITHIN_S = 20.0  # generous: the benchmark measures, the test only bounds a hang


def _crashable(n: int, postgres_url: str, ns: RedisNamespace) -> RunningCluster:
    return start_cluster(n, ns.url, postgres_url, redis_prefix=ns.prefix,
                         jwt_secret=CLUSTER_SECRET, node_class=CrashableNode)  # fmt: skip


@pytest.fixture
def three(postgres_url: str, redis_namespace: RedisNamespace) -> Iterator[list[CrashableNode]]:
    with _crashable(3, postgres_url, redis_namespace) as cluster:
        yield [node for node in cluster.nodes if isinstance(node, CrashableNode)]


def _of(held: CrashJournal) -> set[str]:
    return {e.event_id for e in held.events}


def _ids(events: Sequence[ReceivedEvent]) -> list[str]:
    return [str(e.payload.get("eventId")) for e in events if isinstance(e.payload, dict)]


async def _crash_while_creating(socks: Sockets, node: CrashableNode, agent: object,
                                count: int) -> CrashJournal:  # fmt: skip
    """Arm `node` to die before publishing, send it `count` creates at once; what it held."""
    rest = await socks.rest(agent, node.url)  # type: ignore[arg-type]
    node.arm("before-publish", count)
    attempts = [asyncio.create_task(rest.create(LEAD, {"name": f"Held {i}"})) for i in range(count)]
    journal = await asyncio.to_thread(node.wait_dead, CRASH_WITHIN_S)
    await asyncio.gather(*attempts, return_exceptions=True)  # cut off by the crash
    assert len(journal.events) == count, journal
    return journal


async def _recovered(url: str) -> int:
    """The node's `crm_realtime_outbox_recovered_total`."""
    async with httpx.AsyncClient(timeout=5) as http:
        text = (await http.get(url + METRICS_PATH)).text
    line = next(ln for ln in text.splitlines() if ln.startswith("crm_realtime_outbox_recovered"))
    return int(float(line.split()[-1]))


async def _receive_once(client: RealtimeClient, held: CrashJournal) -> list[ReceivedEvent]:
    """Wait for every held event at `client`, then make sure none comes a second time."""
    ids = _of(held)

    def wanted(e: ReceivedEvent) -> bool:
        return isinstance(e.payload, dict) and e.payload.get("eventId") in ids

    got = await client.wait_for_count(wanted, len(ids), RECOVERY_WITHIN_S)
    assert set(_ids(got)) == ids, f"{client.label}: recovered events missing"
    assert await client.collect_quiet(1.0, wanted) == [], f"{client.label}: a second copy"
    assert client.tracker.duplicates() == [], client.label
    return got


async def test_synced_socket_gets_no_second_copy_of_a_recovered_event(
    three: list[CrashableNode],
) -> None:
    """Node-2 dies after committing two changes and before publishing them. While no relay
    runs, nobody gets them live (the fault is real). A socket that syncs meanwhile gets them by
    replay; once the relays run, the other socket gets them live, and the synced socket gets
    no live copy on top (its sync covered them)."""
    n1, n2, n3 = three
    for node in (n1, n3):
        node.pause_relay()
    org = Org()
    team = org.team()
    stream = f"team:{team[1]}"
    async with sockets(CLUSTER_SECRET) as socks:
        syncer = await socks.open("syncer@1", org.agent(team), n1.url)
        watcher = await socks.open("watcher@3", org.agent(team), n3.url)
        held = await _crash_while_creating(socks, n2, org.agent(team), 2)
        assert {e.stream for e in held.events} == {stream}
        assert await watcher.collect_quiet(2 * GRACE_S) == [], "published with no relay?"

        before = syncer.mark()
        ack = await syncer.sync({stream: 0})
        assert ack.ok, ack.raw
        assert set(_ids(syncer.received(since=before))) == _of(held)

        for node in (n1, n3):
            node.pause_relay(False)
        await _receive_once(watcher, held)
        assert await syncer.collect_quiet(1.0) == [], "a live copy of what the sync replayed"
        assert syncer.tracker.duplicates() == []
        assert syncer.tracker.seqs(stream) == sorted(e.seq for e in held.events)
        recovered = sorted([await _recovered(n1.url), await _recovered(n3.url)])
        assert recovered == [0, len(held.events)], "one relay, the lease holder, did it all"


async def test_relay_that_dies_mid_recovery_is_finished_by_another(
    three: list[CrashableNode], redis_namespace: RedisNamespace
) -> None:
    """The node holding the relay lease dies after publishing the first of three recovered
    events; the third node takes the lease over and publishes the other two. Its socket gets
    each of the three live exactly once."""
    holder_name = await _lease_holder(redis_namespace)
    holder = next(n for n in three if n.settings.node_name == holder_name)
    victim, third = (n for n in three if n is not holder)
    org = Org()
    team = org.team()
    async with sockets(CLUSTER_SECRET) as socks:
        watcher = await socks.open("watcher", org.agent(team), third.url)
        holder.arm("mid-recovery", 1)
        held = await _crash_while_creating(socks, victim, org.agent(team), 3)
        relay_died = await asyncio.to_thread(holder.wait_dead, CRASH_WITHIN_S)
        assert len(relay_died.events) == 1 and _of(relay_died) <= _of(held)
        await _receive_once(watcher, held)
        assert await _recovered(third.url) == 2, "the first one was published already"


async def test_node_restarted_alone_publishes_what_it_left_behind(
    postgres_url: str, redis_namespace: RedisNamespace
) -> None:
    """With no relay running elsewhere, node-2 restarted under its own name publishes the
    events it committed and never published, before it serves."""
    with _crashable(2, postgres_url, redis_namespace) as cluster:
        n1, n2 = (n for n in cluster.nodes if isinstance(n, CrashableNode))
        n1.pause_relay()
        org = Org()
        team = org.team()
        async with sockets(CLUSTER_SECRET) as socks:
            watcher = await socks.open("watcher", org.agent(team), n1.url)
            held = await _crash_while_creating(socks, n2, org.agent(team), 2)
            await asyncio.to_thread(n2.start)
            await _receive_once(watcher, held)
            assert await _recovered(n2.url) == 2


async def _lease_holder(ns: RedisNamespace) -> str:
    """The node holding the relay lease, once one does."""
    raw = aioredis.Redis.from_url(ns.url)
    key = f"{ns.prefix}lease:{RELAY_LEASE}"
    try:
        assert await eventually(lambda: _exists(raw, key), within=10.0), "nobody took the lease"
        holder = json.loads(await raw.get(key))
    finally:
        await raw.aclose()
    return str(holder["userId"])


async def _exists(raw: aioredis.Redis, key: str) -> bool:
    return bool(await raw.exists(key))


async def test_crash_between_commit_and_publish_under_load(
    three: list[CrashableNode], tmp_path: Path
) -> None:
    """The load engine runs users over the three nodes; node-2 dies between commit and publish
    of a few changes and is started again under its name. Every socket on node-1 and node-3 in
    those events' audience receives each of them live; no socket receives a duplicate (as the
    load engine counts them) and after the closing sync no socket misses a seq. Node-2's own
    sockets can only sync again once it is back: they are judged when it was back before the
    users stopped (a loaded machine may take longer to start it; the load engine does not
    move a socket to another node)."""
    urls = tuple(node.url for node in three)
    workload = Workload(users_per_team=6, teams_per_broker=3, think_time_s=1.0,
                        second_tab_share=0.0, drain_s=3.0, final_sync_timeout_s=20.0)  # fmt: skip
    config = LoadConfig(users=18, spawn_rate=18, duration_s=20, urls=urls,
                        jwt_secret=CLUSTER_SECRET, workload=workload,
                        report_dir=tmp_path / "run", quiet=True)  # fmt: skip
    load = asyncio.create_task(asyncio.to_thread(run_load, config))
    victim = three[1]
    assert await eventually(lambda: _emitted(victim.url, 10), within=60.0), "no load on node-2"
    victim.arm("before-publish", 3)
    held = await asyncio.to_thread(victim.wait_dead, CRASH_WITHIN_S)
    await asyncio.to_thread(victim.start)
    back_at = time.time()
    run_dir = await load

    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["duplicates"] == 0, summary
    run = json.loads((run_dir / "run.json").read_text())
    judged = [0, 2] + ([1] if back_at < run["started_at"] + run["duration_s"] else [])
    streams = pd.read_csv(run_dir / "streams.csv", keep_default_na=False)
    lost = streams[streams["node"].isin(judged) & (streams["missing_final"] > 0)]
    assert lost.empty, f"final loss on nodes {judged}: {lost.to_dict('records')}"
    owed = _owed_to_survivors(run_dir, held, crashed=1)
    assert len(owed) > 0, "no socket on a surviving node was in the held events' audience"
    deliveries = pd.read_csv(run_dir / "deliveries.csv", keep_default_na=False)
    live = deliveries[deliveries["replayed"] == 0]
    got = owed.merge(live, on=["socket", "stream", "seq"], how="left", indicator=True)
    missing = got[got["_merge"] != "both"]
    assert missing.empty, f"not received live:\n{missing[['socket', 'stream', 'seq']]}"
    latest = float(got["t_recv"].max()) - held.crashed_at
    assert latest < RECOVERY_WITHIN_S, "a hang, not a slow machine: see bench_outbox_recovery"
    print(f"{len(held.events)} events held by node-2, {len(owed)} deliveries owed to sockets "
          f"on the survivors: all live, the last {latest:.2f} s after the crash")  # fmt: skip


def _owed_to_survivors(run_dir: Path, held: CrashJournal, crashed: int) -> pd.DataFrame:
    """(socket, stream, seq) of every held event for every socket on another node that owed
    it (joined before it: its start seq is below it)."""
    streams = pd.read_csv(run_dir / "streams.csv", keep_default_na=False)
    events = pd.DataFrame([{"stream": e.stream, "seq": e.seq} for e in held.events])
    owed = streams[streams["node"] != crashed].merge(events, on="stream")
    owed = owed[owed["start_seq"] < owed["seq"]]
    return owed[["socket", "stream", "seq"]]


async def _emitted(url: str, at_least: int) -> bool:
    """The node has emitted at least `at_least` data events (the load reached it)."""
    try:
        async with httpx.AsyncClient(timeout=2) as http:
            text = (await http.get(url + METRICS_PATH)).text
    except httpx.HTTPError:
        return False
    total = sum(
        float(line.split()[-1])
        for line in text.splitlines()
        if line.startswith("crm_realtime_events_emitted_total{") and ":" in line
    )
    return total >= at_least
