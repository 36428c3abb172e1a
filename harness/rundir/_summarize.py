"""From a run directory to its `RunSummary` (what the load engine writes as summary.json).

Loss comes from streams.csv (what each socket owed between joining and the closing sync),
duplicates and out-of-order from the live delivery rows themselves, leaks from both
deliveries and anomalies, latency from `RunData.live` (the one join, see `_latency`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from harness.spec import AI_TASK_TERMINAL_EVENTS, ErrorCode

from ._generator import generator_health
from ._latency import Percentiles, change_send_times, successful_changes
from ._nodes import cluster_view, received_live_by_node
from ._reader import SUMMARY_JSON, RunData, read_json, read_run
from ._summary import (
    AiTasks,
    BytesPerUpdate,
    ChangeCounts,
    DeliveryCounts,
    Flood,
    Latency,
    Loss,
    RunSummary,
    ScopeFigures,
    SteadyState,
)
from ._write_path import write_path
from .records import (
    CHANGE_OPS,
    AnomalyKind,
    ExtraOp,
    LocalError,
)

__all__ = ["load_summary", "steady_window", "summarize", "summarize_run"]


def summarize_run(run: RunData) -> RunSummary:
    deliveries, actions, users, streams = run.deliveries, run.actions, run.users, run.streams
    n_users = int(run.run.get("users") or len(users))
    duration = float(run.run.get("duration_s") or 0) or 1.0
    live = run.live
    with_entity = live[live["entity_id"] != ""]
    unique_live = live.drop_duplicates(["socket", "stream", "seq"])
    ok_changes = successful_changes(actions)
    unsynced = streams[streams["synced"] == 0]  # older files lack the column: all synced
    loss = Loss(
        _total(streams["missing_live"]),
        _total(streams["missing_final"]),
        final_unsynced=_total(unsynced["missing_final"]),
        unsynced_sockets=int(unsynced["socket"].nunique()),
    )
    expected = _total(streams["head"] - streams["start_seq"])
    kinds = anomalies_by_kind(run.anomalies)
    isolation = max(isolation_leaks(deliveries, users), kinds.get(AnomalyKind.ISOLATION_LEAK, 0))
    updates = with_entity[with_entity["event"].str.endswith(":updated")]
    refetch = actions[(actions["op"] == ExtraOp.REFETCH) & (actions["ok"] == 1)]
    refetch_sent = change_send_times(refetch, actions, by_event=False)
    reconnects = actions[(actions["op"] == ExtraOp.RECONNECT) & (actions["ok"] == 1)]
    duplicates = len(live) - len(unique_live)
    seq_conflict_count = seq_conflicts(deliveries)
    generator = generator_health(run, n_users, steady_window(run))
    notes = [str(n) for n in run.run.get("notes", [])]
    if generator.saturated:
        notes.append("generator saturated: latency figures include generator delay")
    if generator.lag_windows:
        notes.append(
            f"generator event-loop lag over {generator.lag_threshold_ms:.0f} ms in "
            f"{generator.lag_window_s} s of the run: {generator.lagged_deliveries} deliveries "
            "received then include the generator's own delay"
        )
    return RunSummary(
        scenario=run.run.get("scenario"),
        users=n_users,
        duration_s=duration,
        actions=len(actions),
        changes=ChangeCounts(int(actions["op"].isin(CHANGE_OPS).sum()), len(ok_changes)),
        changes_per_s=round(len(ok_changes) / duration, 2),
        deliveries=DeliveryCounts(
            expected=expected,
            received=expected - (loss.final or 0),
            received_live=len(unique_live),
            rows=len(deliveries),
            replayed=int((deliveries["replayed"] == 1).sum()),
            expected_by_audience=expected_by_audience(ok_changes, users),
            received_live_by_node=received_live_by_node(streams, run.run.get("urls")),
        ),
        deliveries_per_s=round(len(live) / duration, 2),
        mb_per_s=round(float(deliveries["bytes"].sum()) / duration / 1e6, 4),
        loss=loss,
        duplicates=duplicates,
        out_of_order=out_of_order(live),
        isolation_leaks=int(isolation),
        redaction_leaks=kinds.get(AnomalyKind.REDACTION_LEAK, 0),
        gaps_seen=kinds.get(AnomalyKind.GAP, 0),
        seq_conflicts=seq_conflict_count,
        resets=_total(streams["reset"]),
        schema_violations=kinds.get(AnomalyKind.SCHEMA_VIOLATION, 0),
        latency_ms=Latency(
            e2e=Percentiles.of(with_entity["e2e_ms"]),
            fanout=Percentiles.of(live["fanout_ms"]),
            refetch_e2e=Percentiles.of((refetch["t_ack"] - refetch_sent) * 1000),
        ),
        per_scope={
            str(scope): ScopeFigures(len(group), Percentiles.of(group["e2e_ms"]))
            for scope, group in with_entity.groupby("scope")
        },
        write_path=write_path(actions),
        steady_state=steady_state(run),
        bytes_per_update=BytesPerUpdate(
            median=_median(updates["bytes"]), refetch_median=_median(refetch["bytes_received"])
        ),
        connect_errors=_total(users["connect_errors"]),
        connect_error_reasons=connect_error_reasons(run.anomalies),
        refused_users=int(((users["sockets"] == 0) & (users["refused"] > 0)).sum()),
        connect_refusals=connect_refusals(run.anomalies),
        reconnects=int((actions["op"] == ExtraOp.RECONNECT).sum()),
        reconnect_ms=Percentiles.of((reconnects["t_ack"] - reconnects["t_send"]) * 1000),
        disconnects=kinds.get(AnomalyKind.DISCONNECT, 0),
        flood=flood(actions),
        ai_tasks=ai_tasks(live, actions),
        generator=generator,
        cluster=cluster_view(streams, run.run),
        passed=(
            int(isolation) + kinds.get(AnomalyKind.REDACTION_LEAK, 0) == 0
            and (loss.final or 0) == 0
            and duplicates == 0
            and seq_conflict_count == 0
        ),
        notes=notes,
    )


def summarize(run_dir: Path | str) -> dict[str, Any]:
    """summary.json's content for the run directory `run_dir` (run.json may be absent)."""
    return summarize_run(read_run(Path(run_dir))).to_json()


def load_summary(run_dir: Path | str, *, recompute: bool = False) -> dict[str, Any]:
    """The run's summary.json as the load engine wrote it; recomputed from the CSVs when
    asked (after the analysis improved, say) or when there is none."""
    path = Path(run_dir)
    summary_json = path / SUMMARY_JSON
    if summary_json.is_file() and not recompute:
        return read_json(summary_json)
    return summarize(path)


# -- one function per figure ----------------------------------------------------------------------


def _total(values: pd.Series) -> int:
    return int(values.sum()) if len(values) else 0


def _median(values: pd.Series) -> float | None:
    clean = values.dropna()
    return float(clean.median()) if len(clean) else None


def anomalies_by_kind(anomalies: pd.DataFrame) -> dict[str, int]:
    return {str(k): int(v) for k, v in anomalies["kind"].value_counts().items()}


def connect_error_reasons(anomalies: pd.DataFrame) -> dict[str, int]:
    """The five most frequent reasons sockets failed to connect, with their counts."""
    errors = anomalies[anomalies["kind"] == AnomalyKind.CONNECT_ERROR]["detail"]
    return {str(k): int(v) for k, v in errors.value_counts().head(5).items()}


def connect_refusals(anomalies: pd.DataFrame) -> dict[str, int]:
    """Connects the server refused (AUTH-2 form), by code; SERVER_BUSY is LIM-6 shedding."""
    refused = anomalies[anomalies["kind"] == AnomalyKind.CONNECT_REFUSED]["detail"]
    return {str(k) or "(no code)": int(v) for k, v in refused.value_counts().items()}


def out_of_order(live: pd.DataFrame) -> int:
    if live.empty:
        return 0
    ordered = live.sort_values("t_recv", kind="stable")
    # Built-in group operations, not a Python function per (socket, stream): that was a
    # tenth of a 2,000-user run's CPU (issue 13).
    keys = [ordered["socket"], ordered["stream"]]
    highest = ordered.groupby(keys, sort=False)["seq"].cummax()
    prior_max = highest.groupby(keys, sort=False).shift(1)
    return int((ordered["seq"] < prior_max).sum())


def isolation_leaks(deliveries: pd.DataFrame, users: pd.DataFrame) -> int:
    """Deliveries to a known user on a stream outside its own three (EVT-1)."""
    if deliveries.empty or users.empty:
        return 0
    own = users.drop_duplicates("user_id")[["user_id", "team_id", "broker_id"]]
    known = deliveries[["receiver", "stream"]].merge(own, left_on="receiver", right_on="user_id")
    stream = known["stream"]
    allowed = (
        (stream == "broker:" + known["broker_id"])
        | (stream == "team:" + known["team_id"])
        | (stream == "user:" + known["user_id"])
    )
    return int((~allowed).sum())


def expected_by_audience(changes: pd.DataFrame, users: pd.DataFrame) -> int:
    """Sockets in the audience of each successful change (EVT-1), from the actor's team/broker."""
    if changes.empty or users.empty:
        return 0
    own = users.drop_duplicates("user_id")[["user_id", "team_id", "broker_id", "sockets"]]
    joined = changes[["actor", "scope"]].merge(own, left_on="actor", right_on="user_id")
    scope = joined["scope"]
    team = joined["team_id"].map(users.groupby("team_id")["sockets"].sum()).fillna(0)
    broker = joined["broker_id"].map(users.groupby("broker_id")["sockets"].sum()).fillna(0)
    total = team[scope == "team"].sum() + broker[scope == "broker"].sum()
    return int(total + joined["sockets"][scope == "user"].sum())


def seq_conflicts(deliveries: pd.DataFrame) -> int:
    """(stream, seq) pairs that reached sockets as different events (STR-1, RED-3)."""
    if deliveries.empty:
        return 0
    ids = deliveries.groupby(["stream", "seq"])["event_id"].nunique()
    return int((ids > 1).sum())


def steady_window(run: RunData) -> tuple[float, float] | None:
    """Full load (epoch s): from the last user's join to the last action sent (no ramp)."""
    users, actions = run.users, run.actions
    if users.empty or actions.empty:
        return None
    # Users turned away for the whole run (LIM-6) never joined: their give-up is no join.
    joined = users[~((users["sockets"] == 0) & (users["refused"] > 0))]
    if joined.empty:
        return None
    start, end = float(joined["connected_at"].max()), float(actions["t_send"].max())
    return (start, end) if end - start >= 1.0 else None


def steady_state(run: RunData) -> SteadyState | None:
    """Figures at full load (`steady_window`); end-to-end latency of the changes sent in
    that window."""
    actions, live = run.actions, run.live
    window = steady_window(run)
    if window is None:
        return None
    start, end = window
    window = live[(live["t_recv"] >= start) & (live["t_recv"] <= end)]
    acts = actions[(actions["t_send"] >= start) & (actions["t_send"] <= end)]
    sent_in_window = (window["t_send"] >= start) & (window["t_send"] <= end)
    sent_in_window &= window["entity_id"] != ""
    return SteadyState(
        seconds=round(end - start, 1),
        changes_per_s=round(len(successful_changes(acts)) / (end - start), 2),
        deliveries_per_s=round(len(window) / (end - start), 2),
        e2e_ms=Percentiles.of(window[sent_in_window]["e2e_ms"]),
        fanout_ms=Percentiles.of(window["fanout_ms"]),
    )


def flood(actions: pd.DataFrame) -> Flood:
    sent = actions[actions["op"] == ExtraOp.FLOOD]
    flooders = set(sent["actor"])
    return Flood(
        sent=len(sent),
        rate_limited=int((sent["error_code"] == ErrorCode.RATE_LIMITED.value).sum()),
        acks_lost_to_disconnect=int((sent["error_code"] == LocalError.DISCONNECTED).sum()),
        disconnects=int(
            ((actions["op"] == ExtraOp.RECONNECT) & actions["actor"].isin(flooders)).sum()
        ),
    )


def ai_tasks(live: pd.DataFrame, actions: pd.DataFrame) -> AiTasks:
    """AI tasks (§11): how many ended how, and request → terminal event at the requester."""
    asked = actions[(actions["op"] == ExtraOp.AI_TASK) & (actions["ok"] == 1)]
    ends = live[live["event"].isin(sorted(AI_TASK_TERMINAL_EVENTS))]
    joined = ends[["receiver", "entity_id", "t_recv"]].merge(
        asked[["actor", "entity_id", "t_send"]],
        left_on=["receiver", "entity_id"],
        right_on=["actor", "entity_id"],
    )
    per_task = ends.drop_duplicates("entity_id")  # a second tab sees the same task end
    ended = {
        str(e).rsplit(":", 1)[1]: int((per_task["event"] == e).sum())
        for e in AI_TASK_TERMINAL_EVENTS
    }
    return AiTasks(
        requested=len(asked),
        cancelled=ended["cancelled"],
        completed=ended["completed"],
        failed=ended["failed"],
        completion_ms=Percentiles.of((joined["t_recv"] - joined["t_send"]) * 1000),
    )
