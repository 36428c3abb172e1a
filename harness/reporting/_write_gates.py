"""The write path's gates: REST and `mutate` ack latency (p50…p99) and error ratio, read from
`RunSummary.write_path`, each knowing how many samples it rests on."""

from __future__ import annotations

from collections.abc import Callable

from ..rundir import WRITE_TRANSPORTS, Percentiles, RunSummary, WriteFigures
from ._gate_model import Comparison, Extractor, Gate, Samples, field_metric, percentile_metric

__all__ = ["write_path_gates"]


def _ack(name: str) -> Callable[[RunSummary], Percentiles]:
    def read(summary: RunSummary) -> Percentiles:
        return (summary.write_path.get(name) or WriteFigures()).ack_ms

    return read


def _ack_samples(name: str) -> Samples:
    return lambda summary: _ack(name)(summary).count


def _error_ratio(name: str) -> Extractor:
    return field_metric(lambda s: (s.write_path.get(name) or WriteFigures()).error_ratio)


def _requests(name: str) -> Samples:
    return lambda s: (s.write_path.get(name) or WriteFigures()).requests


_WRITE_PERCENTILES: tuple[tuple[str, Callable[[Percentiles], float | None]], ...] = (
    ("p50", lambda p: p.p50),
    ("p90", lambda p: p.p90),
    ("p95", lambda p: p.p95),
    ("p99", lambda p: p.p99),
)


def write_path_gates() -> list[Gate]:
    """REST and `mutate` ack latency (p50…p99) and the share of changes refused or unanswered."""
    gates = []
    for name in WRITE_TRANSPORTS.values():
        label = "REST" if name == "rest" else "mutate"
        for pct, value in _WRITE_PERCENTILES:
            gates.append(Gate(f"{pct}_{name}_ack_ms", f"{pct} {label} ack latency", "ms",
                              Comparison.AT_MOST, float, percentile_metric(_ack(name), value),
                              _ack_samples(name)))  # fmt: skip
        gates.append(Gate(f"{name}_error_ratio", f"{label} changes refused or unanswered",
                          "ratio", Comparison.AT_MOST, float, _error_ratio(name),
                          _requests(name)))  # fmt: skip
    return gates
