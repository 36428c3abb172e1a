"""A load agent's closing sync on a node at its connection budget (issue 12's final loss).

A socket the node dropped comes back for its closing sync and finds the node full: before,
it was refused once and closed out without a sync, so whatever it held out of order was
judged lost and whatever came after its drop was not even owed. Now it asks again after each
retryAfterMs within the closing sync's time, and makes its sync once a slot frees.
"""

from __future__ import annotations

import itertools
import random
import secrets
import time
from collections.abc import Iterator

import gevent
import httpx
import pytest

from harness.client import TokenFactory
from harness.load.agent import LoadAgent
from harness.load.busy_backoff import BusyBackoff
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


def _agent(url: str, secret: str, index: int, workload: Workload | None = None) -> LoadAgent:
    workload = workload or Workload(second_tab_share=0.0, final_sync_timeout_s=15.0)
    ctx = ProcessContext(url=url, tokens=TokenFactory(secret), rest=None, run_id="cs",
                         workload=workload,
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


def test_busy_back_off_honours_retry_after_and_grows_with_refusals_in_a_row() -> None:
    """LIM-6: the wait is never below the refusal's retryAfterMs (clamped to 0.05-60 s);
    each refusal in a row doubles the step up to its cap; the jitter only stretches it, by
    less than its share, and spreads a crowd."""
    rng = random.Random(3)
    plain = BusyBackoff(first_s=1.0, max_s=8.0, jitter=0.0)
    assert [plain.wait_s(300, n, rng) for n in range(1, 7)] == [1, 2, 4, 8, 8, 8]
    assert plain.wait_s(5000, 1, rng) == 5.0 and plain.wait_s(5000, 4, rng) == 8.0
    assert plain.wait_s(None, 2, rng) == plain.wait_s(float("nan"), 2, rng) == 2.0
    assert plain.wait_s(10**9, 1, rng) == 60.0  # nonsense is clamped, not slept through
    assert BusyBackoff(first_s=0.01).wait_s(0, 1, rng) == pytest.approx(0.05, rel=0.5)
    spread = [BusyBackoff(jitter=0.5).wait_s(4000, 1, rng) for _ in range(1000)]
    assert all(4.0 <= w < 6.0 for w in spread) and max(spread) - min(spread) > 1.5
    with pytest.raises(ValueError):
        BusyBackoff(first_s=2.0, max_s=1.0)


def test_a_user_refused_in_a_row_asks_less_and_less_often(
    one_slot_node: tuple[RunningServer, str], records: list[Record]
) -> None:
    """LIM-6: a user refused again and again (the node's only slot held) comes back after
    a longer wait each time: every gap between its refusals is at least the back-off step
    it was at, which doubles (with a fixed retryAfterMs, as before, every gap was about that
    retryAfterMs, 0.3-0.6 s). Sleeps are never shorter than asked, so a slow machine can
    only widen the gaps."""
    node, secret = one_slot_node
    holder = LeanSocket(node.url, lambda *_: None)
    holder.connect(TokenFactory(secret).mint(_agent(node.url, secret, 1).identity))
    workload = Workload(second_tab_share=0.0, busy_backoff_s=0.4, busy_backoff_max_s=10.0)
    agent = _agent(node.url, secret, 0, workload)
    agent.ctx.deadline = time.time() + 6.0
    try:
        agent.start()  # refused to the deadline
    finally:
        holder.close()
    assert agent.refused == 1 and not agent.sockets
    times = [r.t for r in records if isinstance(r, AnomalyRecord) and r.detail == BUSY]
    assert len(times) >= 3, times  # 0.4 + 0.8 + 1.6 s of steps fit in 6 s
    backoff = workload.busy_backoff()
    for n, (before, after) in enumerate(itertools.pairwise(times), start=1):
        assert after - before >= backoff.step_s(n), (n, times)
