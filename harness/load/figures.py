"""The figures `summarize` is made of, one function per aspect, on pandas frames of the CSVs."""

from __future__ import annotations

from typing import Any

import pandas as pd

from harness.spec import AI_TASK_TERMINAL_EVENTS, Action, Op

from .measure import (
    SATURATION_CPU_PERCENT,
    SATURATION_LAG_MS,
    SATURATION_SECONDS,
    STALL_LAG_MS,
    ExtraOp,
)

__all__ = [
    "CHANGE_OPS",
    "ai_tasks",
    "expected_by_audience",
    "generator_health",
    "isolation_leaks",
    "join_e2e",
    "out_of_order",
    "percentiles",
    "received_live_by_node",
    "seq_conflicts",
    "steady_state",
]

CHANGE_OPS = tuple(op.value for op in Op)


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


_DELETED_SUFFIX = f":{Action.DELETED.value}"


def join_e2e(live: pd.DataFrame, actions: pd.DataFrame) -> pd.DataFrame:
    """Each live data-event delivery with the `t_send` of the change that made it.

    Changes match by (entity_id, version). A record is deleted at most once, so a `deleted`
    event matches the successful delete of its entity whatever version the actor recorded:
    the actor may have known a stale version, and runs before the fix recorded 0.
    """
    changes = actions[(actions["op"].isin(CHANGE_OPS)) & (actions["ok"] == 1)]
    is_delete = changes["op"] == Op.DELETE.value
    sends = changes[~is_delete][["entity_id", "version", "t_send"]]
    sends = sends.drop_duplicates(["entity_id", "version"])
    deletes = changes[is_delete][["entity_id", "t_send"]].drop_duplicates("entity_id")
    deleted = live["event"].astype(str).str.endswith(_DELETED_SUFFIX)
    joined = pd.concat(
        [
            live[~deleted].merge(sends, on=["entity_id", "version"], how="inner"),
            live[deleted].merge(deletes, on="entity_id", how="inner"),
        ],
        ignore_index=True,
    )
    joined["e2e_ms"] = (joined["t_recv"] - joined["t_send"]) * 1000
    return joined


def out_of_order(live: pd.DataFrame) -> int:
    if live.empty:
        return 0
    ordered = live.sort_values("t_recv", kind="stable")
    prior_max = ordered.groupby(["socket", "stream"])["seq"].transform(
        lambda s: s.cummax().shift(1)
    )
    return int((ordered["seq"] < prior_max).sum())


def isolation_leaks(deliveries: pd.DataFrame, users: pd.DataFrame) -> int:
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


def expected_by_audience(actions: pd.DataFrame, users: pd.DataFrame) -> int:
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


def seq_conflicts(deliveries: pd.DataFrame) -> int:
    """(stream, seq) pairs that reached sockets as different events (STR-1, RED-3)."""
    if deliveries.empty:
        return 0
    ids = deliveries.groupby(["stream", "seq"])["event_id"].nunique()
    return int((ids > 1).sum())


def _connected_max(samples: pd.DataFrame) -> int:
    """Workers sample on their own clocks: add up each worker's last sample of each second."""
    per_second = samples.assign(second=samples["t"].round())
    last = per_second.groupby(["second", "worker"])["connected_users"].last()
    return int(last.groupby(level="second").sum().max())


def generator_health(samples: pd.DataFrame, users: int) -> dict[str, Any]:
    if samples.empty:
        return {"cpu_percent_max": None, "loop_lag_ms_max": None, "saturated": False}
    saturated = False
    for _, per_worker in samples.sort_values("t").groupby("worker"):
        hot = (per_worker["cpu_percent"] > SATURATION_CPU_PERCENT) | (
            per_worker["loop_lag_ms"] > SATURATION_LAG_MS
        )
        streak = hot.astype(int).groupby((~hot).cumsum()).cumsum()
        saturated = saturated or bool((streak >= SATURATION_SECONDS).any())
    stalls = int((samples["loop_lag_ms"] > STALL_LAG_MS).sum())
    saturated = saturated or stalls > 0
    rss_peak = float(samples.groupby("worker")["rss_mb"].max().sum())
    return {
        "cpu_percent_max": round(float(samples["cpu_percent"].max()), 1),
        "cpu_percent_mean": round(float(samples["cpu_percent"].mean()), 1),
        "loop_lag_ms_max": round(float(samples["loop_lag_ms"].max()), 1),
        "stalls": stalls,
        "rss_mb_max": round(rss_peak, 1),
        "memory_per_user_kb": round(rss_peak * 1024 / users, 1) if users else None,
        "connected_users_max": _connected_max(samples),
        "saturated": saturated,
    }


def steady_state(
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
    e2e = join_e2e(window[window["entity_id"].astype(str) != ""], acts)
    fanout = (window["t_recv"] - pd.to_numeric(window["server_ts"], errors="coerce")) * 1000
    return {
        "seconds": round(end - start, 1),
        "changes_per_s": round(len(ok) / (end - start), 2),
        "deliveries_per_s": round(len(window) / (end - start), 2),
        "e2e_ms": percentiles(e2e["e2e_ms"]),
        "fanout_ms": percentiles(fanout),
    }


def ai_tasks(live: pd.DataFrame, actions: pd.DataFrame) -> dict[str, Any]:
    """AI tasks (§11): how many ended how, and request → terminal event at the requester."""
    asked = actions[(actions["op"] == ExtraOp.AI_TASK) & (actions["ok"] == 1)]
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


def received_live_by_node(streams: pd.DataFrame, urls: list[str] | None) -> dict[str, int]:
    """Events received live per node the receiving socket was on (streams.csv `node`), by
    node URL when run.json lists them; older runs without the column count as node 0."""
    if streams.empty:
        return {}
    node = pd.to_numeric(streams["node"], errors="coerce").fillna(0).astype(int)
    by_node = streams["received_live"].groupby(node).sum()
    names = list(urls or [])
    return {(names[i] if i < len(names) else str(i)): int(count) for i, count in by_node.items()}
