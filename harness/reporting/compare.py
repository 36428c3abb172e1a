"""Compare two runs: relative change per metric, regressions beyond run-to-run noise.

A latency percentile regresses only when all three hold:
- the bootstrap confidence interval of (new − base) for that percentile, resampled from the
  raw live deliveries of both runs, lies wholly above zero (the shift is not sampling noise);
- the relative change exceeds `threshold_pct` (it matters);
- the absolute change exceeds `noise_floor_ms` (timer and scheduler jitter on a shared
  machine is about a millisecond; a 0.3 ms → 0.5 ms "+66 %" is not a regression).
Correctness counts (final loss, duplicates, leaks) regress on any increase: they have no noise.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ._context import ReportContext, build_context
from ._figures import LatencyKind
from ._rundir import RunData
from ._tables import lookup

__all__ = [
    "DEFAULT_NOISE_FLOOR_MS",
    "DEFAULT_THRESHOLD_PCT",
    "Change",
    "LatencySample",
    "MetricDelta",
    "RunComparison",
    "bootstrap_differences",
    "compare_runs",
]

DEFAULT_THRESHOLD_PCT = 10.0
DEFAULT_NOISE_FLOOR_MS = 1.0
_RESAMPLES = 400
_MAX_RESAMPLE_CLUSTERS = 3000  # m-out-of-n bootstrap: bounded cost, a slightly wider CI
_CONFIDENCE = 0.95
_COMPARED_PERCENTILES: tuple[tuple[str, float], ...] = (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))

# (metric name, summary path) of counts where any increase is a regression.
_CORRECTNESS_COUNTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("loss_final", ("loss", "final")),
    ("duplicates", ("duplicates",)),
    ("isolation_leaks", ("isolation_leaks",)),
    ("redaction_leaks", ("redaction_leaks",)),
)
# Shown with their change, never a regression by themselves: they follow the workload.
_INFORMATIONAL: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("loss_live", ("loss", "live"), "count"),
    ("out_of_order", ("out_of_order",), "count"),
    ("connect_errors", ("connect_errors",), "count"),
    ("deliveries_per_s", ("deliveries_per_s",), "1/s"),
    ("changes_per_s", ("changes_per_s",), "1/s"),
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
    ci_low: float | None = None  # bootstrap CI of new − base, same unit
    ci_high: float | None = None
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


@dataclass(frozen=True, slots=True)
class LatencySample:
    """Live latencies grouped by the change they deliver.

    Deliveries of one change to many recipients share its fate (one slow fan-out delays them
    all), so they are not independent draws: resampling single deliveries would make the
    interval far too narrow and flag noise. The bootstrap resamples whole changes.
    """

    values: np.ndarray  # ms, ordered by cluster
    starts: np.ndarray  # offset of each cluster in `values`
    sizes: np.ndarray

    @classmethod
    def from_live(cls, live: pd.DataFrame, column: str) -> LatencySample:
        frame = live[[column, "event_id", "entity_id", "version"]].dropna(subset=[column])
        fallback = frame["entity_id"].astype(str) + "@" + frame["version"].astype(str)
        keys = frame["event_id"].where(frame["event_id"].astype(bool), fallback)
        codes, _ = pd.factorize(keys)
        order = np.argsort(codes, kind="stable")
        sizes = np.bincount(codes) if codes.size else np.zeros(0, dtype=int)
        starts = np.concatenate(([0], np.cumsum(sizes)[:-1])) if sizes.size else sizes
        return cls(frame[column].to_numpy(dtype=float)[order], starts, sizes)

    @property
    def size(self) -> int:
        return int(self.values.size)

    def resampled_quantiles(
        self, quantiles: list[float], rng: np.random.Generator, resamples: int
    ) -> np.ndarray:
        """(resamples, len(quantiles)) quantiles of cluster-bootstrap resamples."""
        clusters = self.sizes.size
        take = min(clusters, _MAX_RESAMPLE_CLUSTERS)
        out = np.empty((resamples, len(quantiles)))
        for i in range(resamples):
            chosen = rng.integers(0, clusters, size=take)
            lengths = self.sizes[chosen]
            # Indices of every delivery of the chosen clusters, without a Python loop.
            firsts = np.repeat(self.starts[chosen] - np.cumsum(lengths) + lengths, lengths)
            out[i] = np.quantile(self.values[firsts + np.arange(int(lengths.sum()))], quantiles)
        return out


def bootstrap_differences(
    base: LatencySample, new: LatencySample, quantiles: list[float], *,
    resamples: int = _RESAMPLES, seed: int = 0,
) -> list[tuple[float, float]]:  # fmt: skip
    """Per quantile, the two-sided `_CONFIDENCE` interval of quantile(new) − quantile(base)."""
    rng = np.random.default_rng(seed)
    differences = (new.resampled_quantiles(quantiles, rng, resamples)
                   - base.resampled_quantiles(quantiles, rng, resamples))  # fmt: skip
    tail = (1.0 - _CONFIDENCE) / 2 * 100
    bounds = np.percentile(differences, [tail, 100 - tail], axis=0)
    return [(float(low), float(high)) for low, high in bounds.T]


def _latency_deltas(
    kind: str, base: LatencySample, new: LatencySample, threshold_pct: float,
    noise_floor_ms: float,
) -> list[MetricDelta]:  # fmt: skip
    if base.sizes.size < 2 or new.sizes.size < 2:
        return [
            MetricDelta(f"{label}_{kind}_ms", "ms", None, None, Change.INFO, reason="too few")
            for label, _ in _COMPARED_PERCENTILES
        ]
    quantiles = [q for _, q in _COMPARED_PERCENTILES]
    intervals = bootstrap_differences(base, new, quantiles)
    return [
        _latency_delta(f"{label}_{kind}_ms", float(np.quantile(base.values, q)),
                       float(np.quantile(new.values, q)), interval, threshold_pct,
                       noise_floor_ms)
        for (label, q), interval in zip(_COMPARED_PERCENTILES, intervals, strict=True)
    ]  # fmt: skip


def _latency_delta(
    metric: str, b: float, n: float, interval: tuple[float, float], threshold_pct: float,
    noise_floor_ms: float,
) -> MetricDelta:  # fmt: skip
    low, high = interval
    relative = (n - b) / b * 100.0 if b > 0 else float("inf")
    large = abs(relative) > threshold_pct and abs(n - b) > noise_floor_ms
    if low > 0 and large:
        change, reason = Change.REGRESSION, f"+{n - b:.1f} ms, CI [{low:.1f}, {high:.1f}]"
    elif high < 0 and large:
        change, reason = Change.IMPROVEMENT, f"{n - b:.1f} ms, CI [{low:.1f}, {high:.1f}]"
    else:
        change, reason = Change.NOISE, f"CI [{low:.1f}, {high:.1f}] ms"
    return MetricDelta(metric, "ms", b, n, change, low, high, reason)


def _number(summary: Mapping[str, Any], keys: tuple[str, ...]) -> float | None:
    value = lookup(summary, *keys)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


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
        pair = (LatencySample.from_live(base.figures.live, column),
                LatencySample.from_live(new.figures.live, column))  # fmt: skip
        samples[kind] = (pair[0].values, pair[1].values)
        deltas += _latency_deltas(kind, *pair, threshold_pct, noise_floor_ms)
    for metric, keys in _CORRECTNESS_COUNTS:
        deltas.append(_count_delta(metric, _number(base_summary, keys),
                                   _number(new_summary, keys)))  # fmt: skip
    keys = ("bytes_per_update", "median")
    deltas.append(_bytes_delta(_number(base_summary, keys), _number(new_summary, keys),
                               threshold_pct))  # fmt: skip
    for metric, keys, unit in _INFORMATIONAL:
        deltas.append(MetricDelta(metric, unit, _number(base_summary, keys),
                                  _number(new_summary, keys), Change.INFO))  # fmt: skip
    warnings = []
    for key, why in (("users", "latency shifts may come from load, not from the server"),
                     ("scenario", "the workloads are not alike")):  # fmt: skip
        if base_run.run.get(key) != new_run.run.get(key):
            warnings.append(f"the runs differ in {key} ({base_run.run.get(key)} vs "
                            f"{new_run.run.get(key)}): {why}")  # fmt: skip
    return RunComparison(base, new, threshold_pct, noise_floor_ms, tuple(deltas), samples,
                         tuple(warnings))  # fmt: skip
