"""What every report format reads: one run, its summary extended with our figures, a verdict.

summary.json is read as the engine (or an older one, or another tool) wrote it and rewritten
with the report's breakdowns added (`summary_json`, keys the engine wrote win); everything
that reads a figure of it reads the typed `summary` parsed from that (`RunSummary`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from harness.spec import DATA_EVENTS

from ..rundir import LatencyKind, RunData, RunSummary, cost_sentence, load_summary, write_path
from ._figures import RunFigures, compute_figures
from ._tables import fmt_number
from ._write_table import low_sample_figures, low_sample_warning
from .gates import Slo, Verdict, evaluate, parse_slo

__all__ = [
    "DEFAULT_SLO",
    "ReportContext",
    "build_context",
    "extend_summary",
    "records",
]

# Without an SLO file the verdict still turns red on broken correctness: a leak or a lost
# event is a failure whatever the latency (SPEC EVT-1, RED-1, STR-5).
DEFAULT_SLO = parse_slo(
    {"loss_final": 0, "duplicates": 0, "isolation_leaks": 0, "redaction_leaks": 0},
    "default correctness gates",
)


def _clean(value: Any) -> Any:
    """JSON-safe: NaN/inf become None, numpy scalars plain numbers."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A frame as JSON-safe row dicts."""
    cleaned: list[dict[str, Any]] = _clean(frame.to_dict(orient="records"))
    return cleaned


def _nested_by(table: pd.DataFrame, key: str) -> dict[str, dict[str, dict[str, Any]]]:
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for row in records(table):
        name = str(row.pop(key))
        kind = str(row.pop("latency"))
        out.setdefault(name, {})[kind] = row
    return out


def extend_summary(summary: dict[str, Any], figures: RunFigures) -> dict[str, Any]:
    """The load engine's summary plus the breakdowns only the report computes.

    Keys the engine wrote win: this adds, it never overrides a measured figure.
    """
    extended = dict(summary)
    latency = dict(extended.get("latency_ms") or {})
    for row in records(figures.overall):
        kind = str(row.pop("latency"))
        latency.setdefault(kind, {k: v for k, v in row.items() if k != "count"})
    extended["latency_ms"] = latency
    extended.setdefault("changes_per_s", figures.changes_per_s)
    extended.setdefault("deliveries_per_s", figures.deliveries_per_s)
    extended.setdefault("mb_per_s", figures.mb_per_s)
    extended["breakdown"] = {
        "latency_ms_by_event": _nested_by(figures.by_event, "event"),
        "latency_ms_by_scope": _nested_by(figures.by_scope, "scope"),
        "bytes_by_event": {str(r.pop("event")): r for r in records(figures.bytes_per_event)},
        "streams_with_anomalies": records(figures.streams_with_problems),
    }
    cleaned: dict[str, Any] = _clean(extended)
    return cleaned


@dataclass(frozen=True, slots=True)
class ReportContext:
    run: RunData
    summary: RunSummary  # the figures of `summary_json`, typed
    summary_json: dict[str, Any]  # extended: what summary.json is rewritten to
    figures: RunFigures
    slo: Slo
    verdict: Verdict
    slo_given: bool  # False: the verdict is DEFAULT_SLO's
    baseline: ReportContext | None = None  # a refetch_baseline run to compare against
    warnings: list[str] = field(default_factory=list)
    # What the generator cost and how many of its cores a target needs (None: not measured).
    generator_cost: str | None = None

    @property
    def title(self) -> str:
        return f"crm-harness load report: {self.run.name}"


def _warnings(summary: RunSummary, figures: RunFigures) -> list[str]:
    notes = []
    if summary.generator.saturated:
        cpu = summary.generator.cpu_percent_max
        notes.append(
            "LOAD GENERATOR SATURATED"
            + (f" (CPU up to {cpu:.0f}%)" if cpu is not None else "")
            + ": latency figures include the generator's own delay and are not trustworthy. "
            "Use more workers or fewer users."
        )
    lagged = summary.generator
    if lagged.lag_windows:
        notes.append(
            f"Generator event-loop lag over {fmt_number(lagged.lag_threshold_ms)} ms in "
            f"{fmt_number(lagged.lag_window_s)} s of the run (windows listed under 'Load "
            f"generator health', shaded in the latency plot): the "
            f"{fmt_number(lagged.lagged_deliveries)} deliveries received then include the "
            "generator's own delay."
        )
    if figures.deliveries_live == 0:
        notes.append("No live deliveries were recorded: nothing below measures fan-out.")
    live = figures.live
    # Notifications and AI task events carry an entity but are no change's data event.
    data_events = live[live["event"].isin(DATA_EVENTS)]
    unmatched = int(data_events["e2e_ms"].isna().sum())
    if unmatched:
        notes.append(
            f"{unmatched} data-event deliveries match no successful action by (entity_id, "
            "version); they count in fan-out latency only."
        )
    negative = int((live["fanout_ms"] < 0).sum())
    if negative:
        notes.append(
            f"{negative} deliveries arrived before their server timestamp: the server's clock "
            "is ahead of the generator's, so fan-out figures (two clocks) are skewed; "
            "end-to-end figures (one clock) are not."
        )
    latency = summary.latency_ms
    for kind, measured in ((LatencyKind.E2E, latency.e2e), (LatencyKind.FANOUT, latency.fanout)):
        if measured.p50 is None:
            notes.append(f"No {kind} latency was measured.")
    low = low_sample_warning(low_sample_figures(summary))
    if low is not None:
        notes.append(low)
    return notes


def build_context(
    run: RunData,
    slo: Slo | None = None,
    baseline: ReportContext | None = None,
    *,
    recompute: bool = False,
) -> ReportContext:
    figures = compute_figures(run)
    summary_json = extend_summary(load_summary(run.path, recompute=recompute), figures)
    if "write_path" not in summary_json:  # a run directory from before it was recorded
        figures_of = RunSummary(write_path=write_path(run.actions)).to_json()["write_path"]
        summary_json["write_path"] = _clean(figures_of)
    summary = RunSummary.from_json(summary_json)
    effective = slo if slo is not None else DEFAULT_SLO
    return ReportContext(
        run=run,
        summary=summary,
        summary_json=summary_json,
        figures=figures,
        slo=effective,
        verdict=evaluate(summary, effective),
        slo_given=slo is not None,
        baseline=baseline,
        warnings=_warnings(summary, figures),
        generator_cost=cost_sentence(summary.generator, figures.deliveries_per_s),
    )
