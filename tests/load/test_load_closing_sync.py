"""A load agent's closing sync on a node at its connection budget (issue 12's final loss).

A socket the node dropped comes back for its closing sync and finds the node full: before,
it was refused once and closed out without a sync, so whatever it held out of order was
judged lost and whatever came after its drop was not even owed. Now it asks again after each
retryAfterMs within the closing sync's time, and makes its sync once a slot frees.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import gevent
import httpx
import pytest

from harness.client import TokenFactory
from harness.load.agent import LoadAgent, busy_wait_s
from harness.load.measure import MEASUREMENTS, AnomalyRecord, Record, StreamRecord
from harness.load.process_context import ProcessContext
from harness.load.wire import LeanSocket
from harness.load.workload import Workload
from harness.spec import API_PREFIX, ErrorCode, Heartbeat
from reference_server.config import ServerSettings
from reference_server.launcher import RunningServer, start_server
from reference_server.shedding import Shedding

BUSY = ErrorCode.SERVER_BUSY.value


@pytest.fixture
def records() -> Iterator[list[Record]]:
    seen: list[Record] = []
    MEASUREMENTS.add_listener(seen.append)
    yield seen
    MEASUREMENTS.remove_listener(seen.append)


@pytest.fixture
def one_slot_node() -> Iterator[tuple[RunningServer, str]]:
    secret = secrets.token_hex(16)
    settings = ServerSettings(port=0, jwt_secret=secret, heartbeat=Heartbeat(2000, 2000),
                              shedding=Shedding(max_connections=1, retry_after_ms=300))  # fmt: skip
    with start_server(settings) as node:
        yield node, secret


def _agent(url: str, secret: str, index: int) -> LoadAgent:
    ctx = ProcessContext(url=url, tokens=TokenFactory(secret), rest=None, run_id="cs",
                         workload=Workload(second_tab_share=0.0, final_sync_timeout_s=15.0),
                         scenario="team_sync", worker=0, workers=1, profiles=[])  # fmt: skip
    return LoadAgent(ctx, index=index)


def test_a_dropped_socket_waits_for_a_slot_to_make_its_closing_sync(
    one_slot_node: tuple[RunningServer, str], records: list[Record]
) -> None:
    """STR-5, LIM-6: the agent's socket drops, another socket takes the node's only slot;
    the closing sync is refused SERVER_BUSY, asks again after retryAfterMs, gets in once the
    other socket leaves, and closes out synced (streams.csv synced 1) with the teammate's
    change made while it was away replayed; then it leaves."""
    node, secret = one_slot_node
    agent = _agent(node.url, secret, 0)
    agent.start()
    assert len(agent.sockets) == 1 and agent.refused == 0
    held = agent.sockets[0]
    assert held.sock is not None
    held.sock.close()  # dropped: the agent keeps its cursors and owes its closing sync
    mate = TokenFactory(secret).mint(_agent(node.url, secret, 1).identity)  # same team
    created = httpx.post(f"{node.url}{API_PREFIX}/leads", json={"name": "While dropped"},
                         headers={"Authorization": f"Bearer {mate}"}, timeout=10)  # fmt: skip
    assert created.status_code == 201, created.text  # an event the dropped socket owes
    other = LeanSocket(node.url, lambda *_: None)
    other.connect(mate)
    leaves = gevent.spawn_later(1.0, other.close)  # a slot frees after a few refusals
    try:
        agent.final_sync()
    finally:
        leaves.kill()
        other.close()
    closed_out = {r.stream.split(":")[0]: r for r in records if isinstance(r, StreamRecord)}
    assert all(r.synced == 1 for r in closed_out.values()), closed_out
    team = closed_out["team"]
    assert team.head - team.start_seq >= 1 and team.missing_final == 0, team  # replayed
    refused = [r for r in records if isinstance(r, AnomalyRecord) and r.detail == BUSY]
    assert refused, "the closing sync was never refused: the node was not full"
    assert held.sock is not None and not held.sock.connected  # it left after its sync


def test_busy_wait_follows_retry_after_within_bounds() -> None:
    """LIM-6: the back-off is the refusal's retryAfterMs; absent or NaN the default; never
    below 50 ms nor above 60 s."""
    assert busy_wait_s(1500) == 1.5
    assert busy_wait_s(None) == busy_wait_s(float("nan")) == 1.0
    assert busy_wait_s(0) == 0.05 and busy_wait_s(10**9) == 60.0
