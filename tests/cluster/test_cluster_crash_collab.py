"""A node killed with SIGKILL runs no disconnect handler: the surviving node that reaps it must
announce what it owed (COL-1, COL-3, COL-4, CLU-1)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator

import pytest

from harness.client import (
    Org,
    PresenceRoster,
    RealtimeClient,
    RecordPresence,
    RestClient,
    TokenFactory,
)
from harness.spec import Heartbeat, Limits
from reference_server.cluster import start_cluster
from reference_server.state.redis import RedisTimeouts
from tests.services import RedisNamespace

pytestmark = [pytest.mark.cluster, pytest.mark.slow]
SECRET = secrets.token_hex(16)
GRACE_S = 1
_REAP_DELAY_S = RedisTimeouts().node_ttl_seconds + RedisTimeouts().heartbeat_seconds
# Longer than reap + grace, so the victim's lock can only end by going offline (`stopped`);
# short enough to see the other lock that node granted end with `expired` after the crash.
_LOCK_TTL_S = 20


@pytest.fixture
async def opened() -> AsyncIterator[list[RealtimeClient | RestClient]]:
    things: list[RealtimeClient | RestClient] = []
    yield things
    for thing in things:
        await (thing.disconnect() if isinstance(thing, RealtimeClient) else thing.aclose())


async def _socket(
    url: str, token: str, opened: list[RealtimeClient | RestClient]
) -> RealtimeClient:
    client = RealtimeClient(url, token)
    opened.append(client)
    await client.connect()
    return client


async def test_crashed_node_users_go_offline(
    postgres_url: str, redis_namespace: RedisNamespace, opened: list[RealtimeClient | RestClient]
) -> None:
    """COL-1, COL-3, COL-4, CLU-1: after node-2 is SIGKILLed, node-1's sockets get
    `user:presence:offline` for the user whose only socket was there (not for one who also
    has a socket on node-1), a `user:viewing` without them, and their lock's `stopped`; a lock
    node-2 granted to a user still online elsewhere ends with `expired` on time; a user whose
    grace period node-2 was timing when it died goes offline too."""
    with start_cluster(
        2,
        redis_namespace.url,
        postgres_url,
        jwt_secret=SECRET,
        redis_prefix=redis_namespace.prefix,
        heartbeat=Heartbeat(2000, 1000),
        limits=Limits(presenceGraceSeconds=GRACE_S, editLockTtlSeconds=_LOCK_TTL_S),
    ) as cluster:
        survivor, doomed = cluster.urls
        org, tokens = Org(), TokenFactory(SECRET)
        victim, watcher, two_tabs, leaver = org.team_of(4)
        rest = RestClient(survivor, tokens.mint(watcher))
        opened.append(rest)
        record = (await rest.create("escrow", {"address": "9 Crash Ct"})).record
        watching = await _socket(survivor, tokens.mint(watcher), opened)
        roster = PresenceRoster(watching)
        await roster.load()
        room = RecordPresence(watching, "escrow", record["id"])
        assert (await room.view()).ok
        other = (await rest.create("escrow", {"address": "10 Crash Ct"})).record
        other_room = RecordPresence(watching, "escrow", other["id"])
        assert (await other_room.view()).ok
        await _socket(survivor, tokens.mint(two_tabs), opened)
        tab_on_doomed = await _socket(doomed, tokens.mint(two_tabs), opened)
        assert (await RecordPresence(tab_on_doomed, "escrow", other["id"]).start_editing()).ok
        victim_socket = await _socket(doomed, tokens.mint(victim), opened)
        victim_room = RecordPresence(victim_socket, "escrow", record["id"])
        assert (await victim_room.view()).ok
        assert (await victim_room.start_editing()).ok
        assert await room.wait_viewers({watcher.user_id, victim.user_id}, 5)
        assert await room.wait_editing("started", 5) is not None
        assert await roster.wait_online(victim.user_id, 5)
        assert await roster.wait_online(two_tabs.user_id, 5)

        leaving = await _socket(doomed, tokens.mint(leaver), opened)
        assert await roster.wait_online(leaver.user_id, 5)
        await leaving.disconnect()
        await asyncio.sleep(0.3)  # node-2 has started timing the grace period, not ended it

        cluster.nodes[1].kill()
        within = _REAP_DELAY_S + GRACE_S + 2
        assert await roster.wait_offline(victim.user_id, within)
        assert await roster.wait_offline(leaver.user_id, 1)
        assert await room.wait_viewers({watcher.user_id}, 2)
        stopped = await room.wait_editing("stopped", 2)
        assert stopped is not None and stopped.get("userId") == victim.user_id
        await asyncio.sleep(GRACE_S + 1)
        assert two_tabs.user_id in roster.online
        for user in (victim, leaver):
            assert [t.online for t in roster.transitions_of(user.user_id)] == [True, False]
        assert other_room.editing is not None and other_room.editing.get("state") == "started"
        expired = await other_room.wait_editing("expired", _LOCK_TTL_S)
        assert expired is not None and expired.get("userId") == two_tabs.user_id
        assert [e.get("state") for e in other_room.editing_events] == ["started", "expired"]
