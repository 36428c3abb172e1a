"""Incremental updates vs full refetch: what one update costs a recipient, measured.

The analysis this project started from claims ~2 KB and < 100 ms per update with incremental
events against ~100 KB and 2–3 s when every client refetches its whole list. Here both come
from runs: a `team_sync` run (the event is the update) and a `refetch_baseline` run (each
event triggers a REST refetch; `op = refetch` rows in actions.csv, carrying the triggering
event's (entity_id, version), `t_ack` when the list arrived and, when the engine records it,
the response size in `bytes_received`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..rundir import ExtraOp, RunData, change_send_times, percentile_row

if TYPE_CHECKING:
    from ._report_context import ReportContext

__all__ = ["CostTable", "UpdateCost", "measure_update_cost", "update_costs"]

RESPONSE_BYTES_COLUMN = "bytes_received"


@dataclass(frozen=True, slots=True)
class UpdateCost:
    """What one change costs one recipient until their screen shows it."""

    label: str
    updates: int  # recipient-updates measured
    bytes_median: float  # wire bytes received per recipient-update
    latency_p50_ms: float
    latency_p95_ms: float
    latency_p99_ms: float
    note: str = ""


@dataclass(frozen=True, slots=True)
class CostTable:
    headers: tuple[str, ...]
    rows: list[tuple[object, ...]]


def _incremental(run: RunData, label: str) -> UpdateCost:
    live = run.live
    latency = percentile_row(live["e2e_ms"])
    sizes = live["bytes"].to_numpy(dtype=float)
    return UpdateCost(
        label=label,
        updates=len(live),
        bytes_median=float(np.median(sizes)) if sizes.size else float("nan"),
        latency_p50_ms=latency["p50"],
        latency_p95_ms=latency["p95"],
        latency_p99_ms=latency["p99"],
        note="event received",
    )


def _refetch(run: RunData, label: str) -> UpdateCost:
    actions = run.actions
    refetches = actions[(actions["op"] == ExtraOp.REFETCH) & (actions["ok"] == 1)]
    # A refetch row carries its triggering event's entity and version, not its event name.
    sent = change_send_times(refetches, actions, by_event=False)
    latency = percentile_row((refetches["t_ack"] - sent) * 1000.0)
    live = run.live
    event_bytes = float(live["bytes"].median()) if len(live) else 0.0
    response = refetches[RESPONSE_BYTES_COLUMN]
    if response.notna().any():
        per_update = event_bytes + float(response.median())
        note = "event + full list refetched over REST"
    else:
        per_update = float("nan")
        note = f"the run recorded no {RESPONSE_BYTES_COLUMN} for refetches"
    return UpdateCost(
        label=label,
        updates=len(refetches),
        bytes_median=per_update,
        latency_p50_ms=latency["p50"],
        latency_p95_ms=latency["p95"],
        latency_p99_ms=latency["p99"],
        note=note,
    )


def measure_update_cost(run: RunData) -> UpdateCost:
    """Cost per update of one run; refetch-style when its actions include refetches."""
    label = str(run.run.get("scenario") or run.path.name)
    if (run.actions["op"] == ExtraOp.REFETCH).any():
        return _refetch(run, label)
    return _incremental(run, label)


def update_costs(incremental: ReportContext, refetch: ReportContext) -> CostTable:
    """The side-by-side table, with the refetch/incremental ratio as the last row."""
    a = measure_update_cost(incremental.run)
    b = measure_update_cost(refetch.run)
    headers = ("run", "updates", "bytes / update", "p50 ms", "p95 ms", "p99 ms", "how")

    def row(c: UpdateCost) -> tuple[object, ...]:
        return (c.label, c.updates, c.bytes_median, c.latency_p50_ms, c.latency_p95_ms,
                c.latency_p99_ms, c.note)  # fmt: skip

    def ratio(x: float, y: float) -> object:
        return f"{x / y:.1f}×" if y and x == x and y == y else "–"

    ratios = (f"{b.label} ÷ {a.label}", "", ratio(b.bytes_median, a.bytes_median),
              ratio(b.latency_p50_ms, a.latency_p50_ms),
              ratio(b.latency_p95_ms, a.latency_p95_ms),
              ratio(b.latency_p99_ms, a.latency_p99_ms), "")  # fmt: skip
    return CostTable(headers, [row(a), row(b), ratios])
