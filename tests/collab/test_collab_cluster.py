"""Profiles collab and ai across a 2-node cluster on Redis + PostgreSQL (CLU-1): presence
goes out once per transition cluster-wide, a lock taken on one node binds the other, and a
task runs on one node while its events and its cancel cross to the other."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Iterator

import pytest

from harness.client import (
    Org,
    PresenceRoster,
    RealtimeClient,
    RecordPresence,
    RestClient,
    TaskProgress,
    TokenFactory,
    submit_task,
)
from harness.spec import Heartbeat, Limits, ServerEvent
from reference_server.cluster import RunningCluster, start_cluster
from tests.services import RedisNamespace

pytestmark = [pytest.mark.cluster, pytest.mark.slow]
SECRET = secrets.token_hex(16)
GRACE_S = 1


@pytest.fixture(scope="module")
def cluster(
    module_postgres_url: str, module_redis_namespace: RedisNamespace
) -> Iterator[RunningCluster]:
    ns = module_redis_namespace
    with start_cluster(2, ns.url, module_postgres_url, jwt_secret=SECRET, redis_prefix=ns.prefix,
                       heartbeat=Heartbeat(2000, 1000),
                       limits=Limits(presenceGraceSeconds=GRACE_S)) as running:  # fmt: skip
        yield running


@pytest.fixture
async def opened(cluster: RunningCluster) -> AsyncIterator[list[RealtimeClient | RestClient]]:
    things: list[RealtimeClient | RestClient] = []
    yield things
    for thing in things:
        await (thing.disconnect() if isinstance(thing, RealtimeClient) else thing.aclose())


async def _socket(cluster: RunningCluster, opened: list, token: str, node: int) -> RealtimeClient:
    client = RealtimeClient(cluster.urls[node], token)
    opened.append(client)
    await client.connect()
    return client


async def test_presence_once_across_nodes(cluster: RunningCluster, opened: list) -> None:
    """COL-1, CLU-1: two sockets opened at once on two nodes announce online once; both
    closed, offline comes once, after the grace period."""
    org, tokens = Org(), TokenFactory(SECRET)
    user, mate = org.team_of(2)
    roster = PresenceRoster(await _socket(cluster, opened, tokens.mint(mate), 1))
    await roster.load()
    pair = await asyncio.gather(*(_socket(cluster, opened, tokens.mint(user), n) for n in (0, 1)))
    assert await roster.wait_online(user.user_id, 5)
    await asyncio.gather(*(c.disconnect() for c in pair))
    assert await roster.wait_offline(user.user_id, GRACE_S + 3)
    await asyncio.sleep(0.3)
    assert [t.online for t in roster.transitions_of(user.user_id)] == [True, False]


async def test_lock_and_task_cross_nodes(cluster: RunningCluster, opened: list) -> None:
    """COL-4/COL-5, AI-3/AI-5, CLU-1: a lock taken on node 1 refuses a REST update on node 2;
    a task submitted on node 1 reports to the user's socket on node 2 and is cancelled from
    node 2."""
    org, tokens = Org(), TokenFactory(SECRET)
    user, mate = org.team_of(2)
    rest_user = RestClient(cluster.urls[0], tokens.mint(user))
    rest_mate = RestClient(cluster.urls[1], tokens.mint(mate))
    opened += [rest_user, rest_mate]
    record = (await rest_user.create("escrow", {"address": "2 Node Rd"})).record
    holder = RecordPresence(await _socket(cluster, opened, tokens.mint(user), 0), "escrow",
                            record["id"])  # fmt: skip
    assert (await holder.start_editing()).ok
    refused = await rest_mate.update("escrow", record["id"], {"status": "pending"})
    assert (refused.status, refused.code) == (423, "LOCKED")
    far = await _socket(cluster, opened, tokens.mint(user), 1)
    task = await submit_task(
        rest_user,
        "create_escrow",
        {"address": "3 Node Rd", "purchasePrice": 1, "stepDelayMs": 3000},
    )
    progress = TaskProgress(far, task.task_id)
    assert await far.wait_for(ServerEvent.AI_TASK_STARTED, 5) is not None
    ack = await progress.cancel()
    assert ack.ok and ack.data.get("status") == "cancelled", ack.raw
    final = await progress.wait_done(8)
    assert final is not None and final.name == ServerEvent.AI_TASK_CANCELLED
    assert progress.check() == []
