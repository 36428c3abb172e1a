"""Figures computed from crafted run directories with known latencies, losses and leaks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from reporting_synth import (
    BROKER_CREATE_LATENCY_MS,
    CREATE_BYTES,
    T0,
    TEAM_UPDATE_LATENCIES_MS,
    UPDATE_BYTES,
    RunSpec,
    action,
    add_change,
    standard_spec,
    write_run,
)

from harness import UsageError
from harness.reporting import load_run
from harness.reporting._figures import compute_figures


@pytest.fixture
def figures(tmp_path: Path):  # type: ignore[no-untyped-def]
    return compute_figures(load_run(write_run(tmp_path / "run", standard_spec())))


def row(table, **where):  # type: ignore[no-untyped-def]
    selected = table
    for key, value in where.items():
        selected = selected[selected[key] == value]
    assert len(selected) == 1, where
    return selected.iloc[0]


def test_latency_per_scope_is_exact_and_excludes_replays(figures) -> None:  # type: ignore[no-untyped-def]
    """EVT-1: per-scope end-to-end and fan-out percentiles from known latencies; the one
    replayed delivery (60 s late) appears in none of them."""
    team = np.repeat(TEAM_UPDATE_LATENCIES_MS, 3)
    team_e2e = row(figures.by_scope, scope="team", latency="e2e")
    assert team_e2e["count"] == 30
    assert team_e2e["p50"] == pytest.approx(55.0, abs=1e-3)
    assert team_e2e["p90"] == pytest.approx(np.quantile(team, 0.9), abs=1e-3)
    assert team_e2e["max"] == pytest.approx(100.0, abs=1e-3)
    team_fanout = row(figures.by_scope, scope="team", latency="fanout")
    assert team_fanout["p50"] == pytest.approx(53.0, abs=1e-3)
    broker = row(figures.by_scope, scope="broker", latency="e2e")
    assert broker["count"] == 20
    assert broker["p99"] == pytest.approx(BROKER_CREATE_LATENCY_MS, abs=1e-3)
    assert row(figures.by_scope, scope="broker", latency="fanout")["max"] == pytest.approx(95.0)
    assert figures.overall["max"].max() < 1000


def test_latency_per_event_type(figures) -> None:  # type: ignore[no-untyped-def]
    """Percentiles per event name."""
    assert row(figures.by_event, event="escrow:updated", latency="e2e")["p50"] == pytest.approx(
        55.0
    )
    assert row(figures.by_event, event="listing:created", latency="e2e")["p50"] == pytest.approx(
        100.0
    )


def test_per_stream_anomalies_and_leaks(figures) -> None:  # type: ignore[no-untyped-def]
    """STR-1, EVT-2, EVT-1, RED-1: gaps and duplicates per stream; leaks listed."""
    team = row(figures.per_stream, stream="team:t1")
    assert (team["received"], team["gap"], team["duplicate"], team["out_of_order"]) == (31, 1, 1, 0)
    broker = row(figures.per_stream, stream="broker:b1")
    assert (broker["received"], broker["gap"]) == (20, 0)
    assert figures.per_stream.iloc[0]["stream"] == "team:t1"  # problems first
    assert sorted(figures.leaks["kind"]) == ["isolation_leak", "redaction_leak"]


def test_bytes_throughput_and_timeline(figures) -> None:  # type: ignore[no-untyped-def]
    """EVT-6: bytes per event type; rates over the declared 20 s."""
    assert row(figures.bytes_per_event, event="escrow:updated")["median"] == UPDATE_BYTES
    assert row(figures.bytes_per_event, event="listing:created")["median"] == CREATE_BYTES
    assert figures.changes == 14
    assert figures.deliveries_live == 50
    assert figures.deliveries_per_s == pytest.approx(50 / 20)
    assert figures.mb_per_s == pytest.approx((30 * UPDATE_BYTES + 20 * CREATE_BYTES) / 20 / 1e6)
    assert figures.timeline["deliveries"].sum() == 50
    assert figures.timeline["changes"].sum() == 14
    assert figures.connected["connected_users"].max() == 5


def test_unmatched_and_failed_actions_do_not_produce_e2e(tmp_path: Path) -> None:
    """A delivery whose change failed or is absent has fan-out latency but no end-to-end."""
    spec = standard_spec()
    for change in spec.actions:
        if change["entity_id"] == "l-0":
            change["ok"] = 0
    figures = compute_figures(load_run(write_run(tmp_path / "run", spec)))
    assert row(figures.by_scope, scope="broker", latency="e2e")["count"] == 15
    assert row(figures.by_scope, scope="broker", latency="fanout")["count"] == 20
    assert figures.changes == 13


def test_empty_run_directory_yields_empty_figures(tmp_path: Path) -> None:
    """A run that delivered nothing still reports (NaN percentiles, zero counts)."""
    figures = compute_figures(load_run(write_run(tmp_path / "run", RunSpec())))
    assert figures.deliveries_live == 0
    assert figures.overall["count"].sum() == 0
    assert figures.by_scope.empty


def test_not_a_run_directory_is_a_usage_error(tmp_path: Path) -> None:
    """Missing directory, missing run.json and a CSV without its columns are usage errors."""
    with pytest.raises(UsageError, match="does not exist"):
        load_run(tmp_path / "absent")
    with pytest.raises(UsageError, match=r"no run\.json"):
        load_run(tmp_path)
    run = write_run(tmp_path / "run", standard_spec())
    (run / "deliveries.csv").write_text("receiver,socket\nu1,s1\n", encoding="utf-8")
    with pytest.raises(UsageError, match="lacks column"):
        load_run(run)


def test_delete_without_version_matches_its_deleted_event(tmp_path: Path) -> None:
    """EVT-3: a REST delete (204, no record) logs no version; its `deleted` event (version
    last + 1) still gets its end-to-end latency by entity."""
    spec = standard_spec()
    delete = action("u1", "delete", "e-1", 0, "team", T0 + 18.0)
    add_change(spec, delete, stream="team:t1", seq=11, event="escrow:deleted",
               receivers=("u1", "u2"), e2e_ms=7.0, fanout_ms=5.0, nbytes=300)  # fmt: skip
    spec.deliveries[-1]["version"] = spec.deliveries[-2]["version"] = 12
    figures = compute_figures(load_run(write_run(tmp_path / "run", spec)))
    deleted = row(figures.by_event, event="escrow:deleted", latency="e2e")
    assert deleted["count"] == 2 and deleted["p50"] == pytest.approx(7.0, abs=1e-3)
