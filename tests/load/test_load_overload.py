"""The load engine against a node that sheds load (LIM-6): refusals counted by code apart from
errors, back-off by retryAfterMs, refused users in summary.json and the report; and a run on
a small scale of what issue 12 saw at 20,000 users: a node at a tiny connection budget whose
event loop is stalled mid-run and then drops every socket it holds, with final loss 0; and a
node late by its own loop that keeps its sockets (its heartbeat forgives its own lag).

The mechanism this reproduction found for a final loss under overload (a dropped socket whose
closing sync could not be made — refused by a node full again — closed out without a sync,
its out-of-order holes judged lost) is pinned down deterministically in
test_load_closing_sync.py; this run is the end-to-end guard.
"""

from __future__ import annotations

import csv
import json
import secrets
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.load import LoadConfig, Workload, run_load
from harness.reporting import write_reports
from harness.spec import ErrorCode, Heartbeat
from reference_server.config import ServerSettings
from reference_server.launcher import start_server
from reference_server.shedding import Shedding
from tests.server.stall_kit import StallableNode

pytestmark = pytest.mark.slow

BUSY = ErrorCode.SERVER_BUSY.value
# Short heartbeats: a stall of a few seconds drops every socket the node holds.
HEARTBEAT = Heartbeat(pingInterval=1000, pingTimeout=1000)


def _workload(**changes: Any) -> Workload:
    base = Workload(users_per_team=5, teams_per_broker=2, think_time_s=1.0, second_tab_share=0.0,
                    drain_s=1.0, final_sync_timeout_s=20.0)  # fmt: skip
    return base.with_overrides(**changes)


def _run(node_url: str, secret: str, run_dir: Path, users: int, duration_s: float,
         workload: Workload) -> dict[str, Any]:  # fmt: skip
    config = LoadConfig(users=users, spawn_rate=50, duration_s=duration_s, url=node_url,
                        jwt_secret=secret, report_dir=run_dir, workload=workload,
                        quiet=True)  # fmt: skip
    summary: dict[str, Any] = json.loads((run_load(config) / "summary.json").read_text())
    return summary


def _stall_when_full(node: StallableNode, budget: int, done: threading.Event,
                     seconds: float = 5.0, turn_ms: float = 2500.0, drop: bool = True,
                     stalled: threading.Event | None = None) -> None:  # fmt: skip
    """Once the node holds its budget of sockets (the load has ramped up, however long that
    took on this machine), stall its loop (by default, then drop every socket it holds)."""
    while not done.wait(0.2):
        metrics = httpx.get(f"{node.url}/metrics", timeout=5).text
        if f"crm_realtime_connections {float(budget)}" in metrics:
            node.stall(seconds, turn_ms, drop=drop)
            if stalled is not None:
                stalled.set()
            return


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_users_past_the_connection_budget_are_refused_not_errors(tmp_path: Path) -> None:
    """LIM-6, STR-5: 16 users, one socket each, on a node that holds 10: 10 connect, 6 are
    refused SERVER_BUSY to the run's end (each asked again after every retryAfterMs) and
    counted as refused users, not connect errors; the connected lose nothing; summary.md
    shows the refusals."""
    secret = secrets.token_hex(16)
    budget = Shedding(max_connections=10, retry_after_ms=500)
    settings = ServerSettings(port=0, jwt_secret=secret, heartbeat=HEARTBEAT, shedding=budget)
    with start_server(settings) as node:
        s = _run(node.url, secret, tmp_path / "run", 16, 6.0, _workload())
    assert s["refused_users"] == 6 and s["connect_errors"] == 0, s
    # Every refused user asked more than once: it came back after retryAfterMs.
    assert s["connect_refusals"].get(BUSY, 0) > 6 and set(s["connect_refusals"]) == {BUSY}
    users = _rows(tmp_path / "run" / "users.csv")
    assert sorted(int(u["sockets"]) for u in users) == [0] * 6 + [1] * 10
    assert all(int(u["refused"]) == 1 - int(u["sockets"]) for u in users)
    assert s["deliveries"]["expected"] > 0 and s["loss"] == {
        "live": 0, "final": 0, "final_unsynced": 0, "unsynced_sockets": 0
    }  # fmt: skip
    assert s["duplicates"] == 0 and s["disconnects"] == 0 and s["passed"] is True
    write_reports(tmp_path / "run")
    report = (tmp_path / "run" / "summary.md").read_text()
    assert "users refused: server busy (LIM-6) | 6" in report, report
    assert f"connects refused, by code | {BUSY} " in report, report


def test_a_stalled_node_at_its_budget_loses_nothing_after_the_closing_sync(
    tmp_path: Path,
) -> None:
    """Issue 12, STR-5, LIM-6: 24 users on a node that holds 16, its loop stalled mid-run
    (2.5 s turns, longer than pingInterval + pingTimeout), then every socket it holds dropped;
    refused users come back and take the freed slots. Every socket still makes its closing
    sync, and it brings back everything: final loss 0, no duplicate."""
    secret = secrets.token_hex(16)
    budget = Shedding(max_connections=16, max_loop_lag_ms=300, retry_after_ms=500)
    settings = ServerSettings(port=0, jwt_secret=secret, heartbeat=HEARTBEAT, shedding=budget)
    with start_server(settings, node_class=StallableNode) as node:
        done = threading.Event()
        stall = threading.Thread(target=_stall_when_full, args=(node, 16, done), daemon=True)
        stall.start()
        try:
            s = _run(node.url, secret, tmp_path / "run", 24, 14.0, _workload())
        finally:
            done.set()
            stall.join(30)
    assert s["disconnects"] > 0, "the stall dropped no socket: nothing was reproduced"
    assert s["loss"]["live"] > 0  # the dropped sockets missed events live...
    streams = _rows(tmp_path / "run" / "streams.csv")
    assert streams and all(row["synced"] == "1" for row in streams)  # ...and all came back
    assert s["loss"]["final"] == 0 and s["loss"]["unsynced_sockets"] == 0, s["loss"]
    assert s["deliveries"]["received"] == s["deliveries"]["expected"]
    assert s["duplicates"] == 0 and s["seq_conflicts"] == 0


def test_a_node_late_by_its_own_loop_keeps_the_sockets_it_holds(tmp_path: Path) -> None:
    """LIM-6, TRN-3: 20 users on a node whose loop stalls in 1.5 s turns for 10 s under a 1 s
    pingTimeout: a pong that arrives during a turn sits unread for longer than pingTimeout,
    by the node's fault, not the client's. The node keeps every socket (python-engineio's own
    check closed some: realtime.ping_check). The WebSocket read timeout (pingInterval +
    pingTimeout, 6 s) is not what is tested: users act every second."""
    secret = secrets.token_hex(16)
    heartbeat = Heartbeat(pingInterval=5000, pingTimeout=1000)
    settings = ServerSettings(port=0, jwt_secret=secret, heartbeat=heartbeat,
                              shedding=Shedding(max_loop_lag_ms=0))  # fmt: skip
    with start_server(settings, node_class=StallableNode) as node:
        done, stalled = threading.Event(), threading.Event()
        stalling = (node, 20, done, 10.0, 1500.0, False, stalled)
        stall = threading.Thread(target=_stall_when_full, args=stalling, daemon=True)
        stall.start()
        try:
            s = _run(node.url, secret, tmp_path / "run", 20, 22.0, _workload(socket_share=0.5))
        finally:
            done.set()
            stall.join(30)
    assert stalled.is_set(), "the node never held all 20 sockets: nothing was stalled"
    assert s["disconnects"] == 0, s["connect_error_reasons"]
    assert s["loss"]["final"] == 0 and s["duplicates"] == 0
