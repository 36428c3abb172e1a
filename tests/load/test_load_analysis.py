"""summarize() on crafted run directories: known latencies, losses, dupes, leaks → exact figures."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from harness.cli.load import _print_summary
from harness.load import summarize
from harness.load.measure import (
    ActionRecord,
    AnomalyRecord,
    DeliveryRecord,
    GeneratorSample,
    StreamRecord,
    UserRecord,
    columns,
)
from harness.reporting import write_reports
from harness.rundir import RunSummary


def _write(run_dir: Path, record_type: type, rows: list[tuple[object, ...]]) -> None:
    # Rows may stop short of the newest trailing columns: summarize() must accept older files.
    names = columns(record_type)
    frame = pd.DataFrame(rows, columns=names[: len(rows[0])] if rows else names)
    frame.to_csv(run_dir / f"{record_type.file}.csv", index=False)  # type: ignore[attr-defined]


def _delivery(
    receiver: str,
    socket: str,
    stream: str,
    seq: int,
    entity: str,
    version: int,
    t_recv: float,
    *,
    event: str = "lead:created",
    server_ts: float = 100.005,
    nbytes: int = 500,
    replayed: int = 0,
) -> tuple[object, ...]:
    scope = stream.split(":")[0]
    return (receiver, socket, stream, seq, f"ev-{stream}-{seq}", event, "lead", entity, version,
            scope, t_recv, server_ts, nbytes, replayed, 0)  # fmt: skip


def _update(receiver: str, socket: str, t_recv: float, **extra: int) -> tuple[object, ...]:
    """The delivery of e1 v2 (team:t1 seq 2), sent at 101.000 and stamped at 101.002."""
    nbytes, replayed = extra.get("nbytes", 500), extra.get("replayed", 0)
    return _delivery(receiver, socket, "team:t1", 2, "e1", 2, t_recv, event="lead:updated",
                     server_ts=101.002, nbytes=nbytes, replayed=replayed)  # fmt: skip


AI_END = "ai:task:completed"


def _crafted(run_dir: Path) -> None:
    run_dir.mkdir()
    (run_dir / "run.json").write_text(json.dumps({"scenario": "team_sync", "users": 3,
                                                  "duration_s": 10}))  # fmt: skip
    _write(run_dir, UserRecord, [
        ("u1", "t1", "b1", 1, 99.0, 0, 0),
        ("u2", "t1", "b1", 2, 99.0, 1, 0),
        ("u3", "t2", "b1", 1, 99.0, 0, 1),
    ])  # fmt: skip
    _write(run_dir, ActionRecord, [
        ("u1", "create", "socket", "lead", "e1", 1, "team", 100.000, 100.010, 1, "", 200, 0, 0),
        ("u1", "update", "rest", "lead", "e1", 2, "team", 101.000, 101.004, 1, "", 150, 0, 0),
        ("u2", "update", "rest", "lead", "e7", 0, "team", 101.500, 101.600, 0, "NOT_FOUND", 150,
         0, 0),
        ("u1", "view", "socket", "lead", "e1", 2, "team", 102.0, 102.001, 1, "", 50, 0, 0),
    ])  # fmt: skip

    _write(run_dir, DeliveryRecord, [
        _delivery("u1", "u1#1", "team:t1", 1, "e1", 1, 100.020),  # e2e 20, fan-out 15
        _delivery("u2", "u2#1", "team:t1", 1, "e1", 1, 100.030),  # e2e 30, fan-out 25
        _delivery("u2", "u2#2", "team:t1", 1, "e1", 1, 100.040),  # e2e 40, fan-out 35
        _update("u1", "u1#1", 101.010, nbytes=300),  # e2e 10
        _update("u2", "u2#1", 101.010, nbytes=310),  # e2e 10
        _update("u2", "u2#1", 101.010, nbytes=310),  # duplicate
        _update("u2", "u2#2", 109.0, replayed=1),  # recovered
        _delivery("u3", "u3#1", "team:t1", 1, "e9", 1, 100.050),  # isolation leak
        _delivery("u3", "u3#1", "team:t2", 2, "e5", 2, 102.000),
        _delivery("u3", "u3#1", "team:t2", 1, "e5", 1, 102.500),  # out of order
        ("u3", "u3#1", "team:t2", 3, "ev-other", "lead:updated", "lead", "e5", 3, "team",
         102.6, 102.55, 400, 0, 0),
        ("u3", "u3#2", "team:t2", 3, "ev-conflict", "lead:updated", "lead", "e5", 3, "team",
         102.6, 102.55, 400, 0, 0),  # the same seq as another event: STR-1 broken
    ])  # fmt: skip
    _write(run_dir, StreamRecord, [
        ("u1", "u1#1", "team:t1", 0, 2, 2, 0, 0, 0, 0),
        ("u2", "u2#1", "team:t1", 0, 2, 2, 0, 0, 0, 0),
        ("u2", "u2#2", "team:t1", 0, 2, 1, 1, 0, 0, 0),
        ("u3", "u3#1", "team:t2", 0, 3, 2, 1, 1, 0, 1),
    ])  # fmt: skip
    _write(run_dir, AnomalyRecord, [
        ("redaction_leak", "u2", "team:t1", 3, "ev-x", "myCommission at non-owner", 0),
        ("isolation_leak", "u3", "team:t1", 1, "ev-team:t1-1", "lead:created delivered", 1),
    ])  # fmt: skip
    _write(run_dir, GeneratorSample, [
        (1.0, 0, 95.0, 1.0, 2, 100.0, 1, 5), (2.0, 0, 96.0, 1.0, 2, 110.0, 2, 6),
        (3.0, 0, 97.0, 60.0, 2, 120.0, 2, 7), (1.0, 1, 10.0, 0.5, 1, 50.0, 0, 1),
    ])  # fmt: skip


def test_exact_figures_from_crafted_run(tmp_path: Path) -> None:
    """EVT-1, EVT-2, STR-1, STR-5, RED-1: latencies, losses, duplicates, order and leaks."""
    run_dir = tmp_path / "run"
    _crafted(run_dir)
    s = summarize(run_dir)

    assert s["users"] == 3 and s["duration_s"] == 10 and s["actions"] == 4
    assert s["changes"] == {"sent": 3, "ok": 2}
    # e2e: 20, 30, 40, 10, 10, 10 (the duplicate row too); fan-out from server_ts
    assert s["latency_ms"]["e2e"]["p50"] == 15.0
    assert s["latency_ms"]["e2e"]["max"] == 40.0
    assert s["latency_ms"]["fanout"]["max"] == round((102.5 - 100.005) * 1000, 2)
    assert s["loss"] == {"live": 2, "final": 1, "final_unsynced": 0, "unsynced_sockets": 0}
    assert s["deliveries"]["expected"] == 2 + 2 + 2 + 3
    assert s["deliveries"]["received"] == 9 - 1
    assert s["deliveries"]["replayed"] == 1
    # audience of the two successful team changes: u1 (1 socket) + u2 (2 sockets), twice
    assert s["deliveries"]["expected_by_audience"] == 6
    assert s["duplicates"] == 1
    assert s["out_of_order"] == 1
    assert s["seq_conflicts"] == 1
    assert s["isolation_leaks"] == 1
    assert s["redaction_leaks"] == 1
    assert s["bytes_per_update"]["median"] == 310.0
    assert s["connect_errors"] == 1
    assert s["generator"]["saturated"] is True
    assert s["generator"]["cpu_percent_max"] == 97.0
    assert s["generator"]["rss_mb_max"] == 170.0
    assert s["passed"] is False
    # full load: from the last join (99.0) to the last action sent (102.0)
    steady = s["steady_state"]
    assert steady["seconds"] == 3.0
    assert steady["deliveries_per_s"] == round(8 / 3, 2)
    assert steady["changes_per_s"] == round(2 / 3, 2)
    assert steady["e2e_ms"]["max"] == 40.0


def test_clean_run_passes(tmp_path: Path) -> None:
    """STR-5, AI-3: a run where every socket got every seq once, no leaks, passes; an AI task
    counts once however many tabs see it end, and its completion time is request → end."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    _write(run_dir, UserRecord, [("u1", "t1", "b1", 2, 99.0, 0, 0)])
    _write(run_dir, ActionRecord, [
        ("u1", "create", "socket", "lead", "e1", 1, "team", 100.0, 100.01, 1, "", 200, 0, 0),
        ("u1", "ai_task", "rest", "escrow", "task-1", 0, "user", 100.5, 100.51, 1, "", 90, 0, 0),
    ])  # fmt: skip
    _write(run_dir, DeliveryRecord, [
        _delivery("u1", "u1#1", "team:t1", 1, "e1", 1, 100.005),
        _delivery("u1", "u1#1", "user:u1", 1, "task-1", 0, 102.0, event=AI_END, server_ts=101.999),
        _delivery("u1", "u1#2", "user:u1", 1, "task-1", 0, 102.5, event=AI_END, server_ts=101.999),
    ])  # fmt: skip
    _write(run_dir, StreamRecord, [("u1", "u1#1", "team:t1", 0, 1, 1, 0, 0, 0, 0)])
    _write(run_dir, AnomalyRecord, [])
    _write(run_dir, GeneratorSample, [(1.0, 0, 95.0, 1.0, 1, 100.0, 1, 1)])
    s = summarize(run_dir)
    assert s["passed"] is True
    e2e = {"p50": 5.0, "p90": 5.0, "p95": 5.0, "p99": 5.0, "max": 5.0, "count": 1}
    assert s["latency_ms"]["e2e"] == e2e
    assert s["generator"]["saturated"] is False  # one hot second is not sustained
    assert s["loss"] == {"live": 0, "final": 0, "final_unsynced": 0, "unsynced_sockets": 0}
    ai = s["ai_tasks"]
    assert (ai["requested"], ai["completed"], ai["failed"], ai["cancelled"]) == (1, 1, 0, 0)
    assert ai["completion_ms"]["p50"] == 1750.0 and ai["completion_ms"]["max"] == 2000.0


def test_generator_health_across_workers(tmp_path: Path) -> None:
    """Generator health: a single long stall is saturation; connected users add up across
    workers sampling on their own clocks."""
    _write(tmp_path, GeneratorSample, [
        (10.02, 0, 20.0, 1.0, 300, 100.0, 1, 1), (10.41, 1, 20.0, 1.0, 200, 90.0, 1, 1),
        (11.03, 0, 20.0, 1500.0, 310, 101.0, 1, 1), (11.40, 1, 20.0, 1.0, 250, 91.0, 1, 1),
    ])  # fmt: skip
    g = summarize(tmp_path)["generator"]
    assert g["connected_users_max"] == 310 + 250
    assert g["stalls"] == 1 and g["saturated"] is True
    assert g["rss_mb_max"] == 101.0 + 91.0


def test_empty_run_directory(tmp_path: Path) -> None:
    """A run that produced nothing still summarizes, with no figures rather than a crash."""
    s = summarize(tmp_path)
    assert s["latency_ms"]["e2e"]["p50"] is None
    assert s["deliveries"]["expected"] == 0


def test_deletes_count_in_e2e(tmp_path: Path) -> None:
    """EVT-3, §15 (a `deleted` event's version is the last version + 1): deletions join their
    delete action in e2e latency, also when the actor recorded a stale version or 0 (older
    runs); a delete of another entity or a refused one does not match."""
    _write(tmp_path, UserRecord, [("u1", "t1", "b1", 1, 99.0, 0, 0)])
    _write(tmp_path, ActionRecord, [
        ("u1", "create", "rest", "lead", "e1", 1, "team", 100.0, 100.01, 1, "", 200, 0, 0),
        ("u1", "delete", "rest", "lead", "e1", 2, "team", 101.0, 101.01, 1, "", 90, 0, 0),
        ("u1", "delete", "socket", "lead", "e2", 0, "", 102.0, 102.01, 1, "", 90, 0, 0),
        ("u1", "delete", "rest", "lead", "e3", 4, "team", 103.0, 103.01, 0, "LOCKED", 90, 0, 0),
    ])  # fmt: skip
    _write(tmp_path, DeliveryRecord, [
        _delivery("u1", "u1#1", "team:t1", 1, "e1", 1, 100.004),  # e2e 4
        _delivery("u1", "u1#1", "team:t1", 2, "e1", 2, 101.030, event="lead:deleted"),  # 30
        _delivery("u1", "u1#1", "team:t1", 3, "e2", 5, 102.050, event="lead:deleted"),  # 50
        _delivery("u1", "u1#1", "team:t1", 4, "e3", 5, 103.070, event="lead:deleted"),  # refused
    ])  # fmt: skip
    e2e = summarize(tmp_path)["latency_ms"]["e2e"]
    assert (e2e["p50"], e2e["max"]) == (30.0, 50.0)


def _cost_run(run_dir: Path) -> list[tuple[object, ...]]:
    """Two users joined by t=100, actions until t=110; two workers; worker 0's loop lagged
    200 ms in the second before t=105. Returns the delivery rows written."""
    run_json = {"scenario": "team_sync", "users": 2, "duration_s": 10.0, "started_at": 95.0,
                "generator_cpu_s": 10.0}  # fmt: skip
    (run_dir / "run.json").write_text(json.dumps(run_json))
    _write(run_dir, UserRecord, [("u1", "t1", "b1", 1, 99.0, 0, 0),
                                 ("u2", "t1", "b1", 1, 100.0, 0, 1)])  # fmt: skip
    _write(run_dir, ActionRecord, [
        ("u1", "update", "socket", "lead", "e1", 2, "team", 110.0, 110.01, 1, "", 90, 0, 0),
    ])  # fmt: skip
    rows = []
    for i in range(2000):  # one every 5 ms from 100 to 110 (none on a window's edge), alternately
        row = list(_delivery("u1", "u1#1", "team:t1", i + 1, "e9", 1, 100.001 + i * 0.005))
        row[-1] = i % 2
        rows.append(tuple(row))
    _write(run_dir, DeliveryRecord, rows)
    _write(run_dir, StreamRecord, [("u1", "u1#1", "team:t1", 0, 2000, 2000, 0, 0, 0, 0)])
    _write(run_dir, AnomalyRecord, [])
    _write(run_dir, GeneratorSample, [
        # t, worker, cpu %, lag ms, connected, rss, changes, deliveries, cpu_s
        (99.5, 0, 50.0, 1.0, 1, 100.0, 0, 0, 1.0),
        (101.0, 0, 50.0, 1.0, 1, 100.0, 1, 100, 2.0),  # steady window: first of worker 0
        (105.0, 0, 50.0, 200.0, 1, 100.0, 1, 600, 3.0),  # woke 200 ms late
        (109.0, 0, 50.0, 1.0, 1, 100.0, 1, 1100, 4.0),  # last of worker 0: 2 s / 1000
        (101.2, 1, 50.0, 1.0, 1, 100.0, 1, 50, 3.0),
        (108.8, 1, 50.0, 1.0, 1, 100.0, 1, 550, 4.0),  # worker 1: 1 s / 500
        (111.0, 1, 50.0, 1.0, 0, 100.0, 1, 560, 4.5),  # after the window: not in the slope
    ])  # fmt: skip
    return rows


def test_generator_cost_from_the_recorded_samples(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 13: CPU per delivery is the steady window's CPU over its deliveries, summed over
    the workers (3 s / 1,500 = 2,000 µs); the fixed part per user is what the whole run
    (run.json's count) cost beyond that: (10 s - 2,000 x 2 ms) / 2 users = 3,000 ms."""
    _cost_run(tmp_path)
    g = summarize(tmp_path)["generator"]
    assert g["cpu_s"] == 10.0
    assert g["cpu_us_per_delivery"] == 2000.0
    assert g["cpu_ms_per_user"] == 3000.0
    assert g["deliveries_per_core_s"] == 500
    _print_summary(tmp_path, RunSummary.from_json(summarize(tmp_path)))  # the terminal says so
    assert (
        "generator cost: 2000.0 µs CPU per delivery, 3000.0 ms per user" in capsys.readouterr().out
    )
    # Without the kernel's count, the workers' own last samples add up: 4 + 4.5 s.
    run_json = json.loads((tmp_path / "run.json").read_text())
    del run_json["generator_cpu_s"]
    (tmp_path / "run.json").write_text(json.dumps(run_json))
    g = summarize(tmp_path)["generator"]
    assert g["cpu_s"] == 8.5 and g["cpu_ms_per_user"] == 2250.0


def test_generator_lag_marks_its_window(tmp_path: Path) -> None:
    """A sample that woke 200 ms late marks [t - 1.2 s, t] of that worker: its deliveries
    received then are counted and flagged, in summary.json and the report; the other
    worker's deliveries in the same seconds are not."""
    rows = _cost_run(tmp_path)
    s = summarize(tmp_path)
    g = s["generator"]
    flagged = sum(1 for r in rows if r[-1] == 0 and 103.8 < float(r[10]) < 105.0)  # type: ignore[arg-type]
    assert flagged == 120  # worker 0 takes one delivery every 10 ms
    assert g["lag_windows"] == [
        {"worker": "0", "start_s": 8.8, "end_s": 10.0, "max_lag_ms": 200.0, "deliveries": flagged}
    ]
    assert g["lagged_deliveries"] == flagged and g["lag_window_s"] == 1.2
    assert any("event-loop lag over 50 ms" in note for note in s["notes"])
    (tmp_path / "summary.json").write_text(json.dumps(s))
    write_reports(tmp_path)
    markdown = (tmp_path / "summary.md").read_text()
    assert "Generator event-loop lag over 50 ms in 1.2 s" in markdown
    assert "2,000 µs of CPU per delivery" in markdown
    assert 'id="lag-windows"' in (tmp_path / "report.html").read_text()
