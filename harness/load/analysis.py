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

from harness.spec import ErrorCode

from .figures import (
    CHANGE_OPS,
    ai_tasks,
    expected_by_audience,
    generator_health,
    isolation_leaks,
    join_e2e,
    out_of_order,
    percentiles,
    received_live_by_node,
    seq_conflicts,
    steady_state,
)
from .measure import (
    ActionRecord,
    AnomalyKind,
    AnomalyRecord,
    DeliveryRecord,
    ExtraOp,
    GeneratorSample,
    LocalError,
    StreamRecord,
    UserRecord,
    columns,
)

__all__ = ["percentiles", "summarize"]


def _read(run_dir: Path, record_type: type) -> pd.DataFrame:
    path = run_dir / f"{record_type.file}.csv"  # type: ignore[attr-defined]
    if not path.exists() or path.stat().st_size == 0:
        return pd.DataFrame(columns=columns(record_type))
    frame = pd.read_csv(path, keep_default_na=False, na_values={"server_ts": ["", "nan"]})
    for name in columns(record_type):
        if name not in frame.columns:
            frame[name] = pd.Series(dtype="object")
    return frame


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
    e2e = join_e2e(live_data, actions)
    fanout_ms = (live["t_recv"] - pd.to_numeric(live["server_ts"], errors="coerce")) * 1000
    ok_changes = actions[(actions["op"].isin(CHANGE_OPS)) & (actions["ok"] == 1)]
    expected = int((streams["head"] - streams["start_seq"]).sum()) if not streams.empty else 0
    loss_live = int(streams["missing_live"].sum()) if not streams.empty else 0
    loss_final = int(streams["missing_final"].sum()) if not streams.empty else 0
    kinds = anomalies["kind"].value_counts().to_dict() if not anomalies.empty else {}
    updates = live_data[live_data["event"].astype(str).str.endswith(":updated")]
    isolation = max(isolation_leaks(deliveries, users), kinds.get(AnomalyKind.ISOLATION_LEAK, 0))
    redaction = int(kinds.get(AnomalyKind.REDACTION_LEAK, 0))
    refetch = actions[(actions["op"] == ExtraOp.REFETCH) & (actions["ok"] == 1)]
    refetch_e2e = refetch.merge(
        ok_changes[["entity_id", "version", "t_send"]].drop_duplicates(["entity_id", "version"]),
        on=["entity_id", "version"],
        suffixes=("", "_change"),
    )
    flood = actions[actions["op"] == ExtraOp.FLOOD]
    reconnects = actions[(actions["op"] == ExtraOp.RECONNECT) & (actions["ok"] == 1)]
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
            "expected_by_audience": expected_by_audience(actions, users),
            "received_live_by_node": received_live_by_node(streams, run.get("urls")),
        },
        "deliveries_per_s": round(len(live) / duration, 2),
        "mb_per_s": round(float(deliveries["bytes"].sum()) / duration / 1e6, 4),
        "loss": {"live": loss_live, "final": loss_final},
        "duplicates": int(len(live) - len(unique_live)),
        "out_of_order": out_of_order(live),
        "isolation_leaks": int(isolation),
        "redaction_leaks": redaction,
        "gaps_seen": int(kinds.get(AnomalyKind.GAP, 0)),
        "seq_conflicts": seq_conflicts(deliveries),
        "resets": int(streams["reset"].sum()) if not streams.empty else 0,
        "latency_ms": {
            "e2e": percentiles(e2e["e2e_ms"]),
            "fanout": percentiles(fanout_ms),
            "refetch_e2e": percentiles(
                (refetch_e2e["t_ack"] - refetch_e2e["t_send_change"]) * 1000
            ),
        },
        "per_scope": per_scope,
        "steady_state": steady_state(live, actions, users),
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
        "reconnects": int((actions["op"] == ExtraOp.RECONNECT).sum()),
        "reconnect_ms": percentiles((reconnects["t_ack"] - reconnects["t_send"]) * 1000),
        "disconnects": int(kinds.get(AnomalyKind.DISCONNECT, 0)),
        "flood": {
            "sent": len(flood),
            "rate_limited": int((flood["error_code"] == ErrorCode.RATE_LIMITED.value).sum()),
            "acks_lost_to_disconnect": int((flood["error_code"] == LocalError.DISCONNECTED).sum()),
            "disconnects": int(
                ((actions["op"] == ExtraOp.RECONNECT) & actions["actor"].isin(flooders)).sum()
            ),
        },
        "ai_tasks": ai_tasks(live, actions),
        "generator": generator_health(samples, n_users),
    }
    leaks = summary["isolation_leaks"] + summary["redaction_leaks"]
    clean = summary["duplicates"] == 0 and summary["seq_conflicts"] == 0
    summary["passed"] = leaks == 0 and loss_final == 0 and clean
    summary["notes"] = list(run.get("notes", []))
    if summary["generator"]["saturated"]:
        summary["notes"].append("generator saturated: latency figures include generator delay")
    return summary
