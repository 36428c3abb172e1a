"""Figures the reports show beyond what summary.json holds: breakdowns by event, scope and
stream, bytes per event, a per-second timeline, generator health per worker.

Latency comes from `RunData.live` (live deliveries only, joined once to their changes) and
percentiles from `percentile_row`: the same definitions as summary.json's (`harness.rundir`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..rundir import (
    PERCENTILES,
    AnomalyKind,
    LatencyKind,
    RunData,
    percentile_row,
    successful_changes,
)

__all__ = ["RunFigures", "compute_figures", "distinct_changes"]


def distinct_changes(actions: pd.DataFrame) -> pd.DataFrame:
    """Successful changes, one per (entity_id, version): what the report counts as changes."""
    return successful_changes(actions).drop_duplicates(["entity_id", "version"], keep="first")


def _percentile_table(live: pd.DataFrame, by: str) -> pd.DataFrame:
    rows = []
    for key, group in live.groupby(by, sort=True):
        for kind in LatencyKind.ALL:
            rows.append({by: key, "latency": kind, **percentile_row(group[f"{kind}_ms"])})
    columns = [by, "latency", "count", *(label for label, _ in PERCENTILES)]
    return pd.DataFrame(rows, columns=columns)


def _per_stream(run: RunData) -> pd.DataFrame:
    kinds = [str(k) for k in (AnomalyKind.GAP, AnomalyKind.DUPLICATE, AnomalyKind.OUT_OF_ORDER)]
    anomalies = run.anomalies
    columns: dict[str, pd.Series] = {"received": run.deliveries.groupby("stream").size()}
    for kind in kinds:
        columns[kind] = anomalies[anomalies["kind"] == kind].groupby("stream").size()
    if not run.streams.empty:
        by_stream = run.streams.groupby("stream")
        columns["lost_live"] = by_stream["missing_live"].sum()
        columns["lost_final"] = by_stream["missing_final"].sum()
    table = pd.DataFrame(columns).fillna(0).astype(int)
    for lost in ("lost_live", "lost_final"):
        if lost not in table.columns:
            table[lost] = np.nan  # not measured: no streams.csv
    table.index.name = "stream"
    problems = table[[*kinds, "lost_final"]].fillna(0).sum(axis=1)
    ordered = table.assign(_problems=problems).sort_values(
        ["_problems", "received"], ascending=False
    )
    return ordered.drop(columns="_problems").reset_index()


def _bytes_per_event(run: RunData) -> pd.DataFrame:
    live = run.live
    if live.empty:
        return pd.DataFrame(columns=["event", "count", "median", "mean", "p95", "max"])
    grouped = live.groupby("event")["bytes"]
    table = pd.DataFrame({
        "count": grouped.size(),
        "median": grouped.median(),
        "mean": grouped.mean(),
        "p95": grouped.quantile(0.95),
        "max": grouped.max(),
    })  # fmt: skip
    return table.reset_index()


def _timeline(run: RunData, live: pd.DataFrame) -> pd.DataFrame:
    """Per-second series relative to the run start: deliveries/s, changes/s, p50/p99 e2e."""
    start = run.started_at
    deliveries = live.assign(second=np.floor(live["t_recv"] - start).astype("Int64"))
    changes = distinct_changes(run.actions)
    changes = changes.assign(second=np.floor(changes["t_send"] - start).astype("Int64"))
    per_second = pd.DataFrame({
        "deliveries": deliveries.groupby("second").size(),
        "changes": changes.groupby("second").size(),
        "e2e_p50_ms": deliveries.groupby("second")["e2e_ms"].median(),
        "e2e_p99_ms": deliveries.groupby("second")["e2e_ms"].quantile(0.99),
        "fanout_p99_ms": deliveries.groupby("second")["fanout_ms"].quantile(0.99),
    })  # fmt: skip
    per_second[["deliveries", "changes"]] = per_second[["deliveries", "changes"]].fillna(0)
    per_second.index.name = "second"
    return per_second.reset_index()


def _connected_over_time(run: RunData) -> pd.DataFrame:
    generator = run.generator
    if generator.empty:
        return pd.DataFrame(columns=["second", "connected_users"])
    seconds = np.floor(generator["t"] - run.started_at)
    frame = generator.assign(second=seconds)
    per_worker = frame.groupby(["second", "worker"])["connected_users"].last()
    return per_worker.groupby(level="second").sum().rename("connected_users").reset_index()


def _generator_health(run: RunData) -> pd.DataFrame:
    generator = run.generator
    if generator.empty:
        return pd.DataFrame(columns=["worker", "cpu_percent_max", "loop_lag_ms_max", "rss_mb_max"])
    grouped = generator.groupby("worker")
    return pd.DataFrame({
        "cpu_percent_max": grouped["cpu_percent"].max(),
        "loop_lag_ms_max": grouped["loop_lag_ms"].max(),
        "rss_mb_max": grouped["rss_mb"].max(),
    }).reset_index()  # fmt: skip


@dataclass(frozen=True, slots=True)
class RunFigures:
    """Everything the report shows that is computed here rather than read from summary.json."""

    live: pd.DataFrame  # live deliveries with e2e_ms / fanout_ms
    overall: pd.DataFrame  # one row per latency kind
    by_event: pd.DataFrame
    by_scope: pd.DataFrame
    per_stream: pd.DataFrame
    bytes_per_event: pd.DataFrame
    timeline: pd.DataFrame
    connected: pd.DataFrame
    generator: pd.DataFrame
    leaks: pd.DataFrame  # isolation and redaction anomalies
    duration_s: float
    changes: int
    deliveries_live: int
    bytes_live: int

    @property
    def streams_with_problems(self) -> pd.DataFrame:
        """The rows of `per_stream` with a gap, a loss, a duplicate or an out-of-order event."""
        counts = self.per_stream.drop(columns=["stream", "received"]).fillna(0)
        return self.per_stream[counts.sum(axis=1) > 0]

    @property
    def changes_per_s(self) -> float:
        return self.changes / self.duration_s

    @property
    def deliveries_per_s(self) -> float:
        return self.deliveries_live / self.duration_s

    @property
    def mb_per_s(self) -> float:
        return self.bytes_live / self.duration_s / 1e6


def compute_figures(run: RunData) -> RunFigures:
    live = run.live
    overall = pd.DataFrame(
        [{"latency": kind, **percentile_row(live[f"{kind}_ms"])} for kind in LatencyKind.ALL]
    )
    leak_kinds = (AnomalyKind.ISOLATION_LEAK, AnomalyKind.REDACTION_LEAK)
    return RunFigures(
        live=live,
        overall=overall,
        by_event=_percentile_table(live, "event"),
        by_scope=_percentile_table(live, "scope"),
        per_stream=_per_stream(run),
        bytes_per_event=_bytes_per_event(run),
        timeline=_timeline(run, live),
        connected=_connected_over_time(run),
        generator=_generator_health(run),
        leaks=run.anomalies[run.anomalies["kind"].isin(leak_kinds)].reset_index(drop=True),
        duration_s=run.duration_s,
        changes=len(distinct_changes(run.actions)),
        deliveries_live=len(live),
        bytes_live=int(live["bytes"].sum()) if len(live) else 0,
    )
