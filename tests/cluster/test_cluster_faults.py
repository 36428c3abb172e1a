"""Real faults in a running cluster: a node killed with SIGKILL, Redis killed and restarted,
PostgreSQL and Redis cut away from a node. Nothing stored is lost and everything recovers
without a manual step (CLU-2, CLU-1, INF-3, STR-5).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
import redis.asyncio as aioredis
from cluster_faults import PrivateRedis, TcpProxy
from cluster_sockets import CLUSTER_SECRET, Sockets, data_events, eventually, sockets

from harness.client import Agent, Org, RealtimeClient
from harness.spec import HEALTH_PATH, ClientEvent, EntityType, ErrorCode
from reference_server.cluster import RunningCluster, start_cluster
from tests.services import RedisNamespace

pytestmark = pytest.mark.cluster  # PostgreSQL and/or Redis

LEAD = EntityType.LEAD


@dataclass
class Writer:
    """Creates leads through the nodes in turn, retrying a failed call on the next node with
    the same Idempotency-Key, as a careful client would (MUT-2)."""

    agent: Agent
    urls: list[str]
    made: list[str] = field(default_factory=list)
    retries: int = 0

    async def create(self, socks: Sockets, index: int) -> None:
        key = uuid.uuid4().hex
        for attempt in range(len(self.urls) * 3):
            url = self.urls[(index + attempt) % len(self.urls)]
            rest = await socks.rest(self.agent, url)
            try:
                answer = await rest.create(LEAD, {"name": f"Lead {index}"}, idempotency_key=key)
            except httpx.HTTPError:
                answer = None
            if answer is not None and answer.status in (200, 201):
                self.made.append(answer.record["id"])
                return
            self.retries += 1
            await asyncio.sleep(0.1)
        raise AssertionError(f"lead {index} could not be created on any node")


async def _health_is(healthy: bool, *urls: str) -> bool:
    """Every node's /healthz says `healthy` (200) or not (anything else, or no answer)."""
    async with httpx.AsyncClient(timeout=3.0) as http:
        for url in urls:
            try:
                ok = (await http.get(url + HEALTH_PATH)).status_code == 200
            except httpx.HTTPError:
                ok = False
            if ok != healthy:
                return False
    return True


async def _assert_everything_held(clients: list[RealtimeClient], stream: str, count: int) -> None:
    """Live delivery was never doubled (EVT-2); after a sync with the client's cursors, every
    seq is held (replay may resend what arrived live: STR-5 deduplicates by eventId)."""
    for client in clients:
        assert client.tracker.duplicates() == [], f"{client.label}: a live event came twice"
        ack = await client.sync()
        assert ack.ok, (client.label, ack.raw)
        assert client.tracker.gaps() == {}, client.label
        assert client.tracker.seqs(stream) == list(range(1, count + 1)), client.label


@pytest.fixture
def three_nodes(postgres_url: str, redis_namespace: RedisNamespace) -> Iterator[RunningCluster]:
    with start_cluster(
        3,
        redis_namespace.url,
        postgres_url,
        redis_prefix=redis_namespace.prefix,
        jwt_secret=CLUSTER_SECRET,
    ) as cluster:
        yield cluster


async def test_killed_node_loses_no_record_and_no_event(three_nodes: RunningCluster) -> None:
    """CLU-2, CLU-1, STR-5: SIGKILL node-2 amid a stream of changes through every node, start
    it again; clients reconnect to any node, sync, and hold every seq once; every record is
    stored exactly once."""
    urls = three_nodes.urls
    org = Org()
    team = org.team()
    stream = f"team:{team[1]}"
    writer = Writer(org.agent(team), urls)
    total = 30
    async with sockets(CLUSTER_SECRET) as socks:
        clients = [await socks.open(f"c{i}", org.agent(team), urls[i]) for i in range(3)]
        for index in range(total):
            if index == total // 3:
                three_nodes.nodes[1].kill()
                assert await eventually(lambda: not clients[1].connected, within=5.0)
            if index == 2 * total // 3:
                await asyncio.to_thread(three_nodes.nodes[1].start)
            await writer.create(socks, index)
        assert writer.retries > 0, "some calls reached the dead node"
        clients[1].url = urls[2]  # the client of the crashed node comes back elsewhere
        await clients[1].reconnect(sync=False)
        await _assert_everything_held(clients, stream, total)
        rest = await socks.rest(writer.agent, urls[1])  # the restarted node serves again
        listed = await rest.list(LEAD, limit=200)
        assert listed.status == 200
        assert sorted(r["id"] for r in listed.data) == sorted(set(writer.made))
        assert len(writer.made) == total


async def test_redis_restart_recovers_by_itself(postgres_url: str) -> None:
    """CLU-1, INF-3, STR-5, LIM-3: Redis (private, no persistence) is killed during traffic
    and started again, empty. Meanwhile the nodes answer /healthz 503 and refuse changes and
    new sockets clearly (INTERNAL); then they recover without a manual step: healthy again,
    live fan-out across nodes resumes, connection counts come back, and a sync shows no seq
    missing."""
    private = PrivateRedis()
    private.start()
    try:
        with start_cluster(
            2, private.url, postgres_url, redis_prefix="crm:", jwt_secret=CLUSTER_SECRET
        ) as cluster:
            await _redis_restart_scenario(cluster, private)
    finally:
        private.kill()


async def _redis_restart_scenario(cluster: RunningCluster, private: PrivateRedis) -> None:
    n1, n2 = cluster.urls
    org = Org()
    team = org.team()
    stream = f"team:{team[1]}"
    watcher_agents = [org.agent(team), org.agent(team)]
    writer = Writer(org.agent(team), [n1, n2])
    async with sockets(CLUSTER_SECRET) as socks:
        clients = [await socks.open("a@1", watcher_agents[0], n1)]
        clients.append(await socks.open("b@2", watcher_agents[1], n2))
        for index in range(5):
            await writer.create(socks, index)
        private.kill()
        assert await eventually(lambda: _health_is(False, n1, n2), within=8.0)
        for url in (n1, n2):
            started = time.monotonic()
            refused = await (await socks.rest(writer.agent, url)).create(LEAD, {"name": "No"})
            assert refused.status == 503 and refused.code == ErrorCode.INTERNAL, refused.body
            assert await socks.try_open(org.agent(team), url) == ErrorCode.INTERNAL
            assert time.monotonic() - started < 5
        private.start()
        assert await eventually(lambda: _health_is(True, n1, n2), within=10.0)
        raw = aioredis.Redis.from_url(private.url)
        try:
            key = f"crm:conn:{watcher_agents[0].user_id}"
            assert await eventually(lambda: _hlen_is(raw, key, 1), within=8.0)
        finally:
            await raw.aclose()
        await asyncio.sleep(1.5)  # the fan-out listeners resubscribe (retry every second)
        mark = [c.mark() for c in clients]
        for index in range(5, 10):  # through both nodes: each reaches the other's sockets live
            await writer.create(socks, index)
        for client, since in zip(clients, mark, strict=True):
            live = await client.wait_for_count(
                lambda e: e.payload.get("stream") == stream, 5, 5.0, since=since
            )
            assert len(live) == 5, f"{client.label}: live events missing after Redis came back"
        await _assert_everything_held(clients, stream, 10)


async def _hlen_is(raw: aioredis.Redis, key: str, expected: int) -> bool:
    try:
        return int(await raw.hlen(key)) == expected
    except Exception:
        return False


async def test_backend_cut_from_a_node_is_reported_and_recovers(
    postgres_url: str, redis_namespace: RedisNamespace
) -> None:
    """INF-3, CLU-1: a node whose Redis is partitioned (black hole) or whose PostgreSQL is
    down answers /healthz 503 and refuses changes with a clear error within seconds, not a
    hang; when the backend returns it serves again by itself."""
    pg_host, pg_port = _host_port(postgres_url)
    redis_host, redis_port = _host_port(redis_namespace.url)
    with TcpProxy(pg_host, pg_port) as pg_proxy, TcpProxy(redis_host, redis_port) as rd_proxy:
        db_url = postgres_url.replace(f"{pg_host}:{pg_port}", f"127.0.0.1:{pg_proxy.port}")
        redis_url = f"redis://127.0.0.1:{rd_proxy.port}/0"
        with start_cluster(
            1, redis_url, db_url, redis_prefix=redis_namespace.prefix, jwt_secret=CLUSTER_SECRET
        ) as cluster:
            await _cut_scenario(cluster.urls[0], pg_proxy, rd_proxy)


async def _cut_scenario(url: str, pg_proxy: TcpProxy, rd_proxy: TcpProxy) -> None:
    agent = Org().agent()
    async with sockets(CLUSTER_SECRET) as socks:
        rest = await socks.rest(agent, url)
        client = await socks.open("a", agent, url)
        made = await rest.create(LEAD, {"name": "Before"})
        assert made.status == 201
        record_id = made.record["id"]

        for cut, name in ((rd_proxy.cut, "Redis"), (pg_proxy.take_down, "PostgreSQL")):
            cut()
            started = time.monotonic()
            assert await eventually(lambda: _health_is(False, url), within=8.0), name
            refused = await rest.update(LEAD, record_id, {"notes": f"while {name} is away"})
            assert refused.status in (500, 503), (name, refused.status, refused.body)
            assert refused.code == ErrorCode.INTERNAL
            assert "unavailable" in (refused.error.message if refused.error else "")
            ack = await client.request(
                ClientEvent.MUTATE,
                {"mutationId": uuid.uuid4().hex, "op": "update", "entityType": LEAD,
                 "id": record_id, "changes": {"notes": "nope"}},
            )  # fmt: skip
            assert not ack.ok and not ack.timed_out and ack.code == ErrorCode.INTERNAL, name
            assert time.monotonic() - started < 20, f"{name}: refusals took too long"
            (rd_proxy if name == "Redis" else pg_proxy).restore()
            assert await eventually(lambda: _health_is(True, url), within=10.0), name
            changed = await rest.update(LEAD, record_id, {"notes": f"after {name}"})
            assert changed.status == 200, (name, changed.body)
        stored = await rest.get(LEAD, record_id)
        assert stored.record["notes"] == "after PostgreSQL"
        assert stored.record["version"] == 3, "nothing refused was applied"
        assert len(data_events(client, f"team:{agent.team_id}")) >= 1


def _host_port(url: str) -> tuple[str, int]:
    netloc = url.split("//", 1)[1].split("/", 1)[0].rsplit("@", 1)[-1]
    host, _, port = netloc.rpartition(":")
    return host, int(port)
