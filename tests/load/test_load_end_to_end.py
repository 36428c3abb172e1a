"""Short end-to-end runs against the bundled reference server (started by run_load itself)."""

from __future__ import annotations

import csv
import json
import socket
from pathlib import Path

import pytest

from harness.load import DEFAULT_JWT_SECRET, LoadConfig, Workload, locust_processes, run_load
from harness.load.config import AUTO_WORKERS
from harness.spec import SPEC_VERSION
from reference_server.launcher import start_server

pytestmark = pytest.mark.slow

RUN_JSON_KEYS = {"scenario", "url", "users", "spawn_rate", "duration_s", "workers",
                 "started_at", "ended_at", "server_info", "config"}  # fmt: skip
CSV_HEADERS = {
    "deliveries.csv": ["receiver", "socket", "stream", "seq", "event_id", "event", "entity_type",
                       "entity_id", "version", "scope", "t_recv", "server_ts", "bytes",
                       "replayed", "worker"],
    "actions.csv": ["actor", "op", "transport", "entity_type", "entity_id", "version", "scope",
                    "t_send", "t_ack", "ok", "error_code", "bytes_sent", "worker"],
    "users.csv": ["user_id", "team_id", "broker_id", "sockets"],
    "generator.csv": ["t", "worker", "cpu_percent", "loop_lag_ms", "connected_users", "rss_mb",
                      "changes_sent", "deliveries"],
    "anomalies.csv": ["kind", "receiver", "stream", "seq", "event_id", "detail"],
}  # fmt: skip


def _workload(**changes: object) -> Workload:
    base = Workload(
        users_per_team=5,
        teams_per_broker=2,
        think_time_s=1.5,
        second_tab_share=0.25,
        drain_s=1.0,
        final_sync_timeout_s=10.0,
    )
    return base.with_overrides(**changes)


def test_team_sync_against_reference_server(tmp_path: Path) -> None:
    """EVT-1, EVT-2, STR-1, STR-5, RED-1, TRN-4, AI-3: 20 users for a few seconds, AI tasks
    among their actions: the run directory follows the contract, every owed event arrives
    exactly once, nothing leaks, AI tasks are followed to their end."""
    mix = {**Workload().action_mix, "ai_task": 0.1}
    config = LoadConfig(users=20, spawn_rate=40, duration_s=6, report_dir=tmp_path / "run",
                        workload=_workload(action_mix=mix), quiet=True)  # fmt: skip
    run_dir = run_load(config)

    run = json.loads((run_dir / "run.json").read_text())
    assert set(run) >= RUN_JSON_KEYS
    assert run["server_info"]["specVersion"] == SPEC_VERSION
    for name, header in CSV_HEADERS.items():
        with open(run_dir / name, newline="") as handle:
            assert next(csv.reader(handle))[: len(header)] == header, name
    with open(run_dir / "users.csv", newline="") as handle:
        users = list(csv.DictReader(handle))
    assert len(users) == 20 and all(int(u["sockets"]) >= 1 for u in users)
    s = json.loads((run_dir / "summary.json").read_text())
    assert s["changes"]["ok"] > 10
    assert s["deliveries"]["expected"] > s["changes"]["ok"]
    assert s["deliveries"]["received"] == s["deliveries"]["expected"]
    assert s["loss"]["final"] == 0 and s["duplicates"] == 0
    assert s["isolation_leaks"] == 0 and s["redaction_leaks"] == 0
    assert s["latency_ms"]["e2e"]["p50"] is not None and s["latency_ms"]["e2e"]["p50"] > 0
    assert s["bytes_per_update"]["median"] < 2048  # EVT-6
    assert s["passed"] is True
    ai = s["ai_tasks"]
    assert ai["requested"] > 0 and ai["completed"] > 0 and ai["failed"] == 0
    assert ai["completion_ms"]["p50"] > 0
    g = s["generator"]  # issue 13: the generator's own cost, from this run's records
    assert g["cpu_s"] == run["generator_cpu_s"] > 0
    assert g["cpu_us_per_delivery"] > 0 and g["cpu_ms_per_user"] is not None


def test_reconnect_storm_replays_what_was_missed(tmp_path: Path) -> None:
    """STR-2, STR-5: users drop and come back; their syncs replay what they missed and the
    closing sync leaves nothing lost."""
    workload = _workload(reconnect_share=1.0, reconnect_interval_s=2.0, offline_s=1.0,
                         think_time_s=0.7)  # fmt: skip
    config = LoadConfig(users=10, spawn_rate=40, duration_s=7, scenario="reconnect_storm",
                        report_dir=tmp_path / "run", workload=workload, quiet=True)  # fmt: skip
    s = json.loads((run_load(config) / "summary.json").read_text())
    assert s["reconnects"] > 0
    assert s["reconnect_ms"]["p50"] is not None and s["reconnect_ms"]["p50"] > 0
    assert s["deliveries"]["replayed"] > 0
    assert s["loss"]["final"] == 0 and s["duplicates"] == 0


def test_flood_is_limited_while_others_are_served(tmp_path: Path) -> None:
    """LIM-1, LIM-2: flooders get RATE_LIMITED acks and are disconnected; the other users'
    changes still reach everyone (final loss 0)."""
    workload = _workload(flood_sockets=1, flood_events_per_s=150.0, think_time_s=1.0)
    config = LoadConfig(users=6, spawn_rate=40, duration_s=5, scenario="flood",
                        report_dir=tmp_path / "run", workload=workload, quiet=True)  # fmt: skip
    s = json.loads((run_load(config) / "summary.json").read_text())
    assert s["flood"]["sent"] > 100
    assert s["flood"]["rate_limited"] > 0
    assert s["flood"]["disconnects"] >= 1
    assert s["changes"]["ok"] > 0 and s["loss"]["final"] == 0


def test_refetch_baseline_measures_bytes_per_refetch(tmp_path: Path) -> None:
    """EVT-6 comparison point: every event triggers a list refetch, recorded with its bytes
    and joined to the change that caused it."""
    config = LoadConfig(users=6, spawn_rate=40, duration_s=5, scenario="refetch_baseline",
                        report_dir=tmp_path / "run", workload=_workload(think_time_s=1.0),
                        quiet=True)  # fmt: skip
    s = json.loads((run_load(config) / "summary.json").read_text())
    assert s["bytes_per_update"]["refetch_median"] is not None
    assert s["bytes_per_update"]["refetch_median"] > 0
    assert s["latency_ms"]["refetch_e2e"]["p50"] is not None
    assert s["loss"]["final"] == 0


def test_master_and_workers_make_one_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """EVT-1, STR-5 across generator processes: more users than one process takes (--workers
    auto, here 4 per process on 2 cores) gives 2 workers, says so in one line, unique users
    split over both, one merged run directory whose figures sum both (the generator's CPU
    too), and end-to-end latency joined across processes."""
    monkeypatch.setattr("harness.load.config.os.cpu_count", lambda: 2)
    # 10 s: on a busy machine the workers start late and a 5 s run ended before any change.
    config = LoadConfig(users=8, spawn_rate=40, duration_s=10, workers=AUTO_WORKERS,
                        users_per_process=4, report_dir=tmp_path / "run",
                        workload=_workload(users_per_team=4, think_time_s=1.0),
                        quiet=True)  # fmt: skip
    run_dir = run_load(config)
    said = [line for line in capsys.readouterr().err.splitlines() if "generator processes" in line]
    assert len(said) == 1 and "8 users over 2 generator processes" in said[0]
    with open(run_dir / "users.csv", newline="") as handle:
        users = list(csv.DictReader(handle))
    assert len({u["user_id"] for u in users}) == len(users) == 8
    assert {u["worker"] for u in users} == {"0", "1"}
    s = json.loads((run_dir / "summary.json").read_text())
    assert json.loads((run_dir / "run.json").read_text())["workers"] == 2
    assert s["loss"]["final"] == 0 and s["duplicates"] == 0 and s["changes"]["ok"] > 0
    with open(run_dir / "deliveries.csv", newline="") as handle:
        receivers_by_worker = {row["worker"] for row in csv.DictReader(handle)}
    assert receivers_by_worker == {"0", "1"}
    assert s["latency_ms"]["e2e"]["p50"] is not None
    with open(run_dir / "generator.csv", newline="") as handle:
        assert {row["worker"] for row in csv.DictReader(handle)} == {"0", "1"}
    # The kernel's count covers the master and both workers; each worker sampled its own.
    cpu_s = json.loads((run_dir / "run.json").read_text())["generator_cpu_s"]
    assert s["generator"]["cpu_s"] == cpu_s > 0


def test_local_workers_join_only_their_own_master(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """EVT-1 across generator processes: the port picked for the master can be taken before
    it binds (under pytest -n, by another run's master); the master moves to another port
    and the run's workers join it alone, never the process that holds the first one."""
    real_free_port = locust_processes._free_port
    with start_server(jwt_secret=DEFAULT_JWT_SECRET) as server, socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen(8)
        squatter.setblocking(False)
        picks = iter([squatter.getsockname()[1]])
        monkeypatch.setattr(
            locust_processes, "_free_port", lambda host: next(picks, None) or real_free_port(host)
        )
        config = LoadConfig(users=8, spawn_rate=40, duration_s=3, url=server.url, workers=2,
                            report_dir=tmp_path / "run", workload=_workload(users_per_team=4,
                            think_time_s=1.0), quiet=True)  # fmt: skip
        assert config.master_bind_port is None
        run_dir = run_load(config)
        with pytest.raises(BlockingIOError):
            squatter.accept()  # no worker connected to the squatter
    with open(run_dir / "users.csv", newline="") as handle:
        users = list(csv.DictReader(handle))
    assert len({u["user_id"] for u in users}) == len(users) == 8
    assert {u["worker"] for u in users} == {"0", "1"}
