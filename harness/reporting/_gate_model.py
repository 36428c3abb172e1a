"""What a gate is: how it compares, what it reads from a `RunSummary`, how many samples its
figure rests on. The registry of gates and their evaluation are in `gates`."""

from __future__ import annotations

import enum
import math
from collections.abc import Callable
from dataclasses import dataclass

from .._exceptions import UsageError
from ..rundir import Percentiles, RunSummary

__all__ = [
    "Comparison",
    "Extractor",
    "Gate",
    "GateStatus",
    "Metric",
    "Samples",
    "field_metric",
    "metric",
    "percentile_metric",
]

Metric = float | bool
Extractor = Callable[[RunSummary], Metric | None]
Samples = Callable[[RunSummary], int | None]  # how many values a gate's figure rests on


class Comparison(enum.Enum):
    """How an observed value meets its threshold; `symbol` is how reports print it."""

    AT_MOST = "<="
    AT_LEAST = ">="
    IS = "is"

    def holds(self, observed: Metric, threshold: Metric) -> bool:
        if self is Comparison.AT_MOST:
            return float(observed) <= float(threshold)
        if self is Comparison.AT_LEAST:
            return float(observed) >= float(threshold)
        return bool(observed) is bool(threshold)

    @property
    def symbol(self) -> str:
        return str(self.value)


class GateStatus(enum.StrEnum):
    PASS = "pass"
    FAIL = "fail"
    MISSING = "missing"  # the summary does not hold the metric: counts as a failure


@dataclass(frozen=True, slots=True)
class Gate:
    name: str
    description: str
    unit: str
    comparison: Comparison
    value_type: type[float] | type[bool]
    extract: Extractor
    samples: Samples | None = None

    def check_threshold(self, value: object) -> Metric:
        """The threshold as the gate's type, or a UsageError naming what was wrong."""
        if self.value_type is bool:
            if not isinstance(value, bool):
                raise UsageError(f"SLO gate {self.name} needs true or false, got {value!r}")
            return value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise UsageError(f"SLO gate {self.name} needs a number ({self.unit}), got {value!r}")
        if not math.isfinite(value) or value < 0:
            raise UsageError(f"SLO gate {self.name} needs a finite number >= 0, got {value!r}")
        return float(value)


def metric(value: float | bool | None) -> Metric | None:
    """A summary value as a gate compares it; None where absent or NaN (not measured)."""
    if value is None or isinstance(value, bool):
        return value
    return float(value) if math.isfinite(value) else None


def field_metric(read: Callable[[RunSummary], float | bool | None]) -> Extractor:
    return lambda summary: metric(read(summary))


def percentile_metric(
    kind: Callable[[RunSummary], Percentiles], pct: Callable[[Percentiles], float | None]
) -> Extractor:
    return field_metric(lambda s: pct(kind(s)))
