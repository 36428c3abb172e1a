"""From a run directory's CSVs to `summary.json` (pandas). Reusable: `summarize(run_dir)`.

End-to-end latency joins each live data-event delivery to the successful change that made
it by (entity_id, version), so it works across worker processes. Loss comes from
streams.csv (what each socket owed between joining and the closing sync), duplicates and
out-of-order from the delivery rows themselves, leaks from both deliveries and anomalies.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from harness.spec import AI_TASK_TERMINAL_EVENTS, ErrorCode, Op

from .measure import (
    ActionRecord,
    AnomalyKind,
    AnomalyRecord,
    DeliveryRecord,
    GeneratorSample,
    StreamRecord,
    UserRecord,
    columns,
)

__all__ = ["percentiles", "summarize"]

CHANGE_OPS = tuple(op.value for op in Op)
_SATURATION_CPU = 90.0
_SATURATION_LAG_MS = 50.0
_SATURATION_STREAK = 3


def _read(run_dir: Path, record_type: type) -> pd.DataFrame:
    path = run_dir / f"{record_type.file}.csv"  # type: ignore[attr-defined]
    if not path.exists() or path.stat().st_size == 0:
        return pd.DataFrame(columns=columns(record_type))
    frame = pd.read_csv(path, keep_default_na=False, na_values={"server_ts": ["", "nan"]})
    for name in columns(record_type):
        if name not in frame.columns:
            frame[name] = pd.Series(dtype="object")
    return frame


def percentiles(values: pd.Series) -> dict[str, float | None]:
    """p50/p95/p99/max in ms, rounded to 0.01; None for no data."""
    clean = pd.to_numeric(values, errors="coerce").dropna()
    if clean.empty:
        return {"p50": None, "p95": None, "p99": None, "max": None}
    q = clean.quantile([0.5, 0.95, 0.99])
    return {
        "p50": round(float(q[0.5]), 2),
        "p95": round(float(q[0.95]), 2),
        "p99": round(float(q[0.99]), 2),
        "max": round(float(clean.max()), 2),
    }


def _e2e(live: pd.DataFrame, actions: pd.DataFrame) -> pd.DataFrame:
    changes = actions[(actions["op"].isin(CHANGE_OPS)) & (actions["ok"] == 1)]
    sends = changes[["entity_id", "version", "t_send"]].drop_duplicates(["entity_id", "version"])
    joined = live.merge(sends, on=["entity_id", "version"], how="inner")
    joined["e2e_ms"] = (joined["t_recv"] - joined["t_send"]) * 1000
    return joined


def _out_of_order(live: pd.DataFrame) -> int:
    if live.empty:
        return 0
    ordered = live.sort_values("t_recv", kind="stable")
    prior_max = ordered.groupby(["socket", "stream"])["seq"].transform(
        lambda s: s.cummax().shift(1)
    )
    return int((ordered["seq"] < prior_max).sum())


def _isolation_leaks(deliveries: pd.DataFrame, users: pd.DataFrame) -> int:
    if deliveries.empty or users.empty:
        return 0
    own = users.drop_duplicates("user_id").set_index("user_id")
    known = deliveries[deliveries["receiver"].isin(own.index)]
    allowed = {
        uid: {f"broker:{row.broker_id}", f"team:{row.team_id}", f"user:{uid}"}
        for uid, row in own.iterrows()
    }
    return int(
        sum(
            stream not in allowed[receiver]
            for receiver, stream in zip(known["receiver"], known["stream"], strict=True)
        )
    )


def _expected_by_audience(actions: pd.DataFrame, users: pd.DataFrame) -> int:
    """Sockets in the audience of each successful change (EVT-1), from the actor's team/broker."""
    changes = actions[(actions["op"].isin(CHANGE_OPS)) & (actions["ok"] == 1)]
    if changes.empty or users.empty:
        return 0
    u = users.drop_duplicates("user_id").set_index("user_id")
    team_sockets = users.groupby("team_id")["sockets"].sum()
    broker_sockets = users.groupby("broker_id")["sockets"].sum()
    total = 0
    for actor, scope in zip(changes["actor"], changes["scope"], strict=True):
        if actor not in u.index:
            continue
        row = u.loc[actor]
        if scope == "team":
            total += int(team_sockets.get(row["team_id"], 0))
        elif scope == "broker":
            total += int(broker_sockets.get(row["broker_id"], 0))
        elif scope == "user":
            total += int(row["sockets"])
    return total


def _generator(samples: pd.DataFrame, users: int) -> dict[str, Any]:
    if samples.empty:
        return {"cpu_percent_max": None, "loop_lag_ms_max": None, "saturated": False}
    saturated = False
    for _, per_worker in samples.sort_values("t").groupby("worker"):
        hot = (per_worker["cpu_percent"] > _SATURATION_CPU) | (
            per_worker["loop_lag_ms"] > _SATURATION_LAG_MS
        )
        streak = hot.astype(int).groupby((~hot).cumsum()).cumsum()
        saturated = saturated or bool((streak >= _SATURATION_STREAK).any())
    rss_peak = float(samples.groupby("worker")["rss_mb"].max().sum())
    return {
        "cpu_percent_max": round(float(samples["cpu_percent"].max()), 1),
        "cpu_percent_mean": round(float(samples["cpu_percent"].mean()), 1),
        "loop_lag_ms_max": round(float(samples["loop_lag_ms"].max()), 1),
        "rss_mb_max": round(rss_peak, 1),
        "memory_per_user_kb": round(rss_peak * 1024 / users, 1) if users else None,
        "connected_users_max": int(samples.groupby("t")["connected_users"].sum().max()),
        "saturated": saturated,
    }


def _steady_state(
    live: pd.DataFrame, actions: pd.DataFrame, users: pd.DataFrame
) -> dict[str, Any] | None:
    """Figures at full load: from the last user's join to the last action sent (no ramp)."""
    if users.empty or actions.empty:
        return None
    start, end = float(users["connected_at"].max()), float(actions["t_send"].max())
    if end - start < 1.0:
        return None
    window = live[(live["t_recv"] >= start) & (live["t_recv"] <= end)]
    acts = actions[(actions["t_send"] >= start) & (actions["t_send"] <= end)]
    ok = acts[(acts["op"].isin(CHANGE_OPS)) & (acts["ok"] == 1)]
    e2e = _e2e(window[window["entity_id"].astype(str) != ""], acts)
    fanout = (window["t_recv"] - pd.to_numeric(window["server_ts"], errors="coerce")) * 1000
    return {
        "seconds": round(end - start, 1),
        "changes_per_s": round(len(ok) / (end - start), 2),
        "deliveries_per_s": round(len(window) / (end - start), 2),
        "e2e_ms": percentiles(e2e["e2e_ms"]),
        "fanout_ms": percentiles(fanout),
    }


def _ai_tasks(live: pd.DataFrame, actions: pd.DataFrame) -> dict[str, Any]:
    """AI tasks (§11): how many ended how, and request → terminal event at the requester."""
    asked = actions[(actions["op"] == "ai_task") & (actions["ok"] == 1)]
    ends = live[live["event"].isin(sorted(AI_TASK_TERMINAL_EVENTS))]
    joined = ends.merge(
        asked[["actor", "entity_id", "t_send"]],
        left_on=["receiver", "entity_id"],
        right_on=["actor", "entity_id"],
    )
    per_task = ends.drop_duplicates("entity_id")  # a second tab sees the same task end
    return {
        "requested": len(asked),
        **{
            str(e).rsplit(":", 1)[1]: int((per_task["event"] == e).sum())
            for e in sorted(AI_TASK_TERMINAL_EVENTS)
        },
        "completion_ms": percentiles((joined["t_recv"] - joined["t_send"]) * 1000),
    }


def summarize(run_dir: Path) -> dict[str, Any]:
    run_dir = Path(run_dir)
    run_path = run_dir / "run.json"
    run: dict[str, Any] = json.loads(run_path.read_text()) if run_path.exists() else {}
    deliveries = _read(run_dir, DeliveryRecord)
    actions = _read(run_dir, ActionRecord)
    users = _read(run_dir, UserRecord)
    streams = _read(run_dir, StreamRecord)
    anomalies = _read(run_dir, AnomalyRecord)
    samples = _read(run_dir, GeneratorSample)

    n_users = int(run.get("users") or len(users))
    duration = float(run.get("duration_s") or 0) or 1.0
    live = deliveries[deliveries["replayed"] == 0]
    live_data = live[live["entity_id"].astype(str) != ""]
    unique_live = live.drop_duplicates(["socket", "stream", "seq"])
    e2e = _e2e(live_data, actions)
    fanout_ms = (live["t_recv"] - pd.to_numeric(live["server_ts"], errors="coerce")) * 1000
    ok_changes = actions[(actions["op"].isin(CHANGE_OPS)) & (actions["ok"] == 1)]
    expected = int((streams["head"] - streams["start_seq"]).sum()) if not streams.empty else 0
    loss_live = int(streams["missing_live"].sum()) if not streams.empty else 0
    loss_final = int(streams["missing_final"].sum()) if not streams.empty else 0
    kinds = anomalies["kind"].value_counts().to_dict() if not anomalies.empty else {}
    updates = live_data[live_data["event"].astype(str).str.endswith(":updated")]
    isolation = max(_isolation_leaks(deliveries, users), kinds.get(AnomalyKind.ISOLATION_LEAK, 0))
    redaction = int(kinds.get(AnomalyKind.REDACTION_LEAK, 0))
    refetch = actions[(actions["op"] == "refetch") & (actions["ok"] == 1)]
    refetch_e2e = refetch.merge(
        ok_changes[["entity_id", "version", "t_send"]].drop_duplicates(["entity_id", "version"]),
        on=["entity_id", "version"],
        suffixes=("", "_change"),
    )
    flood = actions[actions["op"] == "flood"]
    flooders = set(flood["actor"])
    per_scope = {
        scope: {"received": len(group), "e2e_ms": percentiles(e2e[e2e["scope"] == scope]["e2e_ms"])}
        for scope, group in live_data.groupby("scope")
    }
    summary: dict[str, Any] = {
        "scenario": run.get("scenario"),
        "users": n_users,
        "duration_s": duration,
        "actions": len(actions),
        "changes": {"sent": int(actions["op"].isin(CHANGE_OPS).sum()), "ok": len(ok_changes)},
        "changes_per_s": round(len(ok_changes) / duration, 2),
        "deliveries": {
            "expected": expected,
            "received": expected - loss_final,
            "received_live": len(unique_live),
            "rows": len(deliveries),
            "replayed": int((deliveries["replayed"] == 1).sum()),
            "expected_by_audience": _expected_by_audience(actions, users),
        },
        "deliveries_per_s": round(len(live) / duration, 2),
        "mb_per_s": round(float(deliveries["bytes"].sum()) / duration / 1e6, 4),
        "loss": {"live": loss_live, "final": loss_final},
        "duplicates": int(len(live) - len(unique_live)),
        "out_of_order": _out_of_order(live),
        "isolation_leaks": int(isolation),
        "redaction_leaks": redaction,
        "gaps_seen": int(kinds.get(AnomalyKind.GAP, 0)),
        "resets": int(streams["reset"].sum()) if not streams.empty else 0,
        "latency_ms": {
            "e2e": percentiles(e2e["e2e_ms"]),
            "fanout": percentiles(fanout_ms),
            "refetch_e2e": percentiles(
                (refetch_e2e["t_ack"] - refetch_e2e["t_send_change"]) * 1000
            ),
        },
        "per_scope": per_scope,
        "steady_state": _steady_state(live, actions, users),
        "bytes_per_update": {
            "median": float(updates["bytes"].median()) if not updates.empty else None,
            "refetch_median": float(refetch["bytes_received"].median())
            if not refetch.empty
            else None,
        },
        "connect_errors": int(users["connect_errors"].sum()) if not users.empty else 0,
        "connect_error_reasons": {
            str(k): int(v)
            for k, v in anomalies[anomalies["kind"] == AnomalyKind.CONNECT_ERROR]["detail"]
            .value_counts()
            .head(5)
            .items()
        },
        "reconnects": int((actions["op"] == "reconnect").sum()),
        "disconnects": int(kinds.get(AnomalyKind.DISCONNECT, 0)),
        "flood": {
            "sent": len(flood),
            "rate_limited": int((flood["error_code"] == ErrorCode.RATE_LIMITED.value).sum()),
            "acks_lost_to_disconnect": int((flood["error_code"] == "DISCONNECTED").sum()),
            "disconnects": int(
                ((actions["op"] == "reconnect") & actions["actor"].isin(flooders)).sum()
            ),
        },
        "ai_tasks": _ai_tasks(live, actions),
        "generator": _generator(samples, n_users),
    }
    leaks = summary["isolation_leaks"] + summary["redaction_leaks"]
    summary["passed"] = leaks == 0 and loss_final == 0 and summary["duplicates"] == 0
    summary["notes"] = list(run.get("notes", []))
    if summary["generator"]["saturated"]:
        summary["notes"].append("generator saturated: latency figures include generator delay")
    return summary
