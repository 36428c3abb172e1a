"""Compare two runs: relative change per metric, regressions beyond run-to-run noise.

A latency percentile regresses only when all three hold:
- a block permutation test (`_noise.py`) says the shift is unlikely to be chance within the
  runs: p < `SIGNIFICANCE` (1 %, strict because six percentiles are judged at once);
- the relative change exceeds `threshold_pct`, and
- the absolute change exceeds `noise_floor_ms`: these two absorb drift BETWEEN runs that no
  resampling of the runs themselves can see. Two identical 30-user runs on this shared
  2-core machine differed by 19 % (0.9 ms) at p50, hence the defaults 20 % and 2 ms.
Correctness counts (final loss, duplicates, leaks) regress on any increase: they have no noise.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..rundir import LatencyKind, RunData, RunSummary
from ._defaults import DEFAULT_NOISE_FLOOR_MS, DEFAULT_THRESHOLD_PCT
from ._noise import BlockedSample, permutation_p_values
from ._report_context import ReportContext, build_context
from .gates import GATES

__all__ = [
    "DEFAULT_NOISE_FLOOR_MS",
    "DEFAULT_THRESHOLD_PCT",
    "SIGNIFICANCE",
    "Change",
    "MetricDelta",
    "RunComparison",
    "compare_runs",
]

SIGNIFICANCE = 0.01
_MIN_BLOCKS = 10  # fewer one-second blocks than this: too short a run to tell noise apart
_COMPARED_PERCENTILES: tuple[tuple[str, float], ...] = (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))

# Counts where any increase is a regression (read as their SLO gates read them).
_CORRECTNESS_COUNTS = ("loss_final", "duplicates", "isolation_leaks", "redaction_leaks")
# Shown with their change, never a regression by themselves: they follow the workload.
_INFORMATIONAL: tuple[tuple[str, Callable[[RunSummary], float | None], str], ...] = (
    ("loss_live", lambda s: s.loss.live, "count"),
    ("out_of_order", lambda s: s.out_of_order, "count"),
    ("connect_errors", lambda s: s.connect_errors, "count"),
    ("deliveries_per_s", lambda s: s.deliveries_per_s, "1/s"),
    ("changes_per_s", lambda s: s.changes_per_s, "1/s"),
)


class Change(enum.StrEnum):
    REGRESSION = "regression"
    IMPROVEMENT = "improvement"
    NOISE = "within noise"
    INFO = ""


@dataclass(frozen=True, slots=True)
class MetricDelta:
    metric: str
    unit: str
    base: float | None
    new: float | None
    change: Change
    p_value: float | None = None  # latency: block permutation test of "only chance"
    reason: str = ""

    @property
    def difference(self) -> float | None:
        return None if self.base is None or self.new is None else self.new - self.base

    @property
    def relative_pct(self) -> float | None:
        if self.base is None or self.new is None or self.base == 0:
            return None
        return (self.new - self.base) / abs(self.base) * 100.0


@dataclass(frozen=True, slots=True)
class RunComparison:
    base: ReportContext
    new: ReportContext
    threshold_pct: float
    noise_floor_ms: float
    deltas: tuple[MetricDelta, ...]
    samples: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    @property
    def regressions(self) -> tuple[MetricDelta, ...]:
        return tuple(d for d in self.deltas if d.change is Change.REGRESSION)


def _latency_deltas(
    kind: str, base: BlockedSample, new: BlockedSample, threshold_pct: float,
    noise_floor_ms: float,
) -> list[MetricDelta]:  # fmt: skip
    qs = [q for _, q in _COMPARED_PERCENTILES]
    names = [f"{label}_{kind}_ms" for label, _ in _COMPARED_PERCENTILES]
    if min(base.blocks, new.blocks) < _MIN_BLOCKS:
        reason = f"under {_MIN_BLOCKS} s of deliveries: too short to tell from noise"
        return [
            MetricDelta(name, "ms", _quantile(base, q), _quantile(new, q), Change.INFO,
                        reason=reason)
            for name, q in zip(names, qs, strict=True)
        ]  # fmt: skip
    p_values = permutation_p_values(base, new, qs)
    return [
        _latency_delta(name, b, n, p, threshold_pct, noise_floor_ms)
        for name, b, n, p in zip(names, base.quantiles(qs), new.quantiles(qs), p_values,
                                 strict=True)
    ]  # fmt: skip


def _quantile(sample: BlockedSample, q: float) -> float | None:
    return float(np.quantile(sample.values, q)) if sample.values.size else None


def _latency_delta(
    metric: str, b: float, n: float, p_value: float, threshold_pct: float,
    noise_floor_ms: float,
) -> MetricDelta:  # fmt: skip
    relative = (n - b) / b * 100.0 if b > 0 else float("inf")
    evidence = f"{n - b:+.1f} ms, p={p_value:.3f}"
    if p_value >= SIGNIFICANCE:
        change = Change.NOISE
    elif abs(relative) <= threshold_pct or abs(n - b) <= noise_floor_ms:
        change, evidence = Change.NOISE, evidence + " (under threshold or noise floor)"
    else:
        change = Change.REGRESSION if n > b else Change.IMPROVEMENT
    return MetricDelta(metric, "ms", float(b), float(n), change, p_value, evidence)


def _number(value: float | bool | None) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _gate_value(name: str, summary: RunSummary) -> float | None:
    return _number(GATES[name].extract(summary))


def _count_delta(metric: str, base: float | None, new: float | None) -> MetricDelta:
    if base is None or new is None:
        return MetricDelta(metric, "count", base, new, Change.INFO, reason="not measured")
    if new > base:
        return MetricDelta(metric, "count", base, new, Change.REGRESSION, reason="any increase")
    return MetricDelta(metric, "count", base, new,
                       Change.IMPROVEMENT if new < base else Change.NOISE)  # fmt: skip


def _bytes_delta(base: float | None, new: float | None, threshold_pct: float) -> MetricDelta:
    metric = "bytes_per_update_median"
    if base is None or new is None or base <= 0:
        return MetricDelta(metric, "bytes", base, new, Change.INFO, reason="not measured")
    relative = (new - base) / base * 100.0
    if relative > threshold_pct:
        return MetricDelta(metric, "bytes", base, new, Change.REGRESSION,
                           reason=f"+{relative:.0f}% > {threshold_pct:g}%")  # fmt: skip
    change = Change.IMPROVEMENT if relative < -threshold_pct else Change.NOISE
    return MetricDelta(metric, "bytes", base, new, change)


def compare_runs(
    base_run: RunData,
    new_run: RunData,
    *,
    threshold_pct: float = DEFAULT_THRESHOLD_PCT,
    noise_floor_ms: float = DEFAULT_NOISE_FLOOR_MS,
) -> RunComparison:
    base, new = build_context(base_run), build_context(new_run)
    base_summary, new_summary = base.summary, new.summary
    deltas: list[MetricDelta] = []
    samples: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for kind in LatencyKind.ALL:
        column = f"{kind}_ms"
        pair = (BlockedSample.from_live(base.figures.live, column),
                BlockedSample.from_live(new.figures.live, column))  # fmt: skip
        samples[kind] = (pair[0].values, pair[1].values)
        deltas += _latency_deltas(kind, *pair, threshold_pct, noise_floor_ms)
    for metric in _CORRECTNESS_COUNTS:
        deltas.append(_count_delta(metric, _gate_value(metric, base_summary),
                                   _gate_value(metric, new_summary)))  # fmt: skip
    gate = "bytes_per_update_median"
    deltas.append(_bytes_delta(_gate_value(gate, base_summary), _gate_value(gate, new_summary),
                               threshold_pct))  # fmt: skip
    for metric, read, unit in _INFORMATIONAL:
        deltas.append(MetricDelta(metric, unit, _number(read(base_summary)),
                                  _number(read(new_summary)), Change.INFO))  # fmt: skip
    warnings = []
    for key, why in (("users", "latency shifts may come from load, not from the server"),
                     ("scenario", "the workloads are not alike")):  # fmt: skip
        if base_run.run.get(key) != new_run.run.get(key):
            warnings.append(f"the runs differ in {key} ({base_run.run.get(key)} vs "
                            f"{new_run.run.get(key)}): {why}")  # fmt: skip
    return RunComparison(base, new, threshold_pct, noise_floor_ms, tuple(deltas), samples,
                         tuple(warnings))  # fmt: skip
