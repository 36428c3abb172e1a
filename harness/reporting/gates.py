"""SLO gates: a registry of typed gate definitions and their evaluation against a summary.

Each gate reads one typed field of the run's `RunSummary` (`harness.rundir`).

An SLO file is flat TOML, one `gate_name = threshold` per line (see `slo.example.toml`). Every
name must be in `GATES` and every value of the gate's type: a typo that silently passed would
turn a CI gate into decoration, so both are usage errors naming what is valid.

A gate whose metric the summary lacks FAILS (status `missing`): a run that could not measure
p99 has not shown that p99 is under 100 ms.
"""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from .._exceptions import UsageError
from ..rundir import LOW_SAMPLE, Percentiles, RunSummary
from ._gate_model import (
    Comparison,
    Gate,
    GateStatus,
    Metric,
    Samples,
    field_metric,
    metric,
    percentile_metric,
)
from ._write_gates import write_path_gates

__all__ = [
    "GATES",
    "Comparison",
    "Gate",
    "GateOutcome",
    "GateStatus",
    "Slo",
    "Verdict",
    "evaluate",
    "load_slo",
    "parse_slo",
]


def _connect_error_ratio(summary: RunSummary) -> Metric | None:
    # Ratio over users: each simulated user opens at least one socket, and summary.json
    # carries the user count but not always the socket count.
    errors, users = metric(summary.connect_errors), metric(summary.users)
    if errors is None or users is None:
        return None
    return float(errors) / max(float(users), 1.0)


_LATENCIES: tuple[tuple[str, str, Callable[[RunSummary], Percentiles]], ...] = (
    ("e2e", "end-to-end", lambda s: s.latency_ms.e2e),
    ("fanout", "fan-out", lambda s: s.latency_ms.fanout),
)
_PERCENTILES: tuple[tuple[str, Callable[[Percentiles], float | None]], ...] = (
    ("p50", lambda p: p.p50),
    ("p95", lambda p: p.p95),
    ("p99", lambda p: p.p99),
    ("max", lambda p: p.max),
)


def _latency_samples(kind: Callable[[RunSummary], Percentiles]) -> Samples:
    return lambda summary: kind(summary).count


def _registry() -> dict[str, Gate]:
    gates: list[Gate] = []
    for kind, label, latency in _LATENCIES:
        for pct, value in _PERCENTILES:
            gates.append(
                Gate(f"{pct}_{kind}_ms", f"{pct} {label} latency", "ms", Comparison.AT_MOST,
                     float, percentile_metric(latency, value), _latency_samples(latency))
            )  # fmt: skip
    gates += write_path_gates()
    counts: tuple[tuple[str, str, Callable[[RunSummary], int | None]], ...] = (
        ("loss_live", "events missing during the run", lambda s: s.loss.live),
        ("loss_final", "events still missing after the closing sync", lambda s: s.loss.final),
        ("duplicates", "events received twice live", lambda s: s.duplicates),
        ("out_of_order", "events received out of seq order", lambda s: s.out_of_order),
        ("isolation_leaks", "events delivered outside their audience",
         lambda s: s.isolation_leaks),
        ("redaction_leaks", "sensitive values seen by non-owners", lambda s: s.redaction_leaks),
        ("connect_errors", "sockets that failed to connect", lambda s: s.connect_errors),
    )  # fmt: skip
    for name, description, read in counts:
        extract = field_metric(read)
        gates.append(Gate(name, description, "count", Comparison.AT_MOST, float, extract))
    gates += [
        Gate("connect_error_ratio", "connect errors per user", "ratio", Comparison.AT_MOST,
             float, _connect_error_ratio),
        Gate("bytes_per_update_median", "median wire bytes of an update event", "bytes",
             Comparison.AT_MOST, float, field_metric(lambda s: s.bytes_per_update.median)),
        Gate("min_deliveries_per_s", "delivered events per second", "1/s", Comparison.AT_LEAST,
             float, field_metric(lambda s: s.deliveries_per_s)),
        Gate("generator_saturated", "load generator saturated (figures unreliable)", "",
             Comparison.IS, bool, field_metric(lambda s: s.generator.saturated)),
    ]  # fmt: skip
    return {gate.name: gate for gate in gates}


GATES: dict[str, Gate] = _registry()


@dataclass(frozen=True, slots=True)
class Slo:
    """Parsed SLO: gate name → threshold, in file order."""

    thresholds: dict[str, Metric]
    source: str = "<inline>"


def parse_slo(data: Mapping[str, object], source: str = "<inline>") -> Slo:
    unknown = [name for name in data if name not in GATES]
    if unknown:
        hints = [
            f"{name} (did you mean {close[0]}?)" if close else name
            for name in sorted(unknown)
            for close in [difflib.get_close_matches(name, list(GATES), n=1)]
        ]
        raise UsageError(
            f"{source}: unknown SLO gate(s) {', '.join(hints)}; valid names: {', '.join(GATES)}"
        )
    if not data:
        raise UsageError(f"{source}: no SLO gates defined")
    return Slo({name: GATES[name].check_threshold(value) for name, value in data.items()}, source)


def load_slo(path: Path | str) -> Slo:
    file = Path(path)
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"SLO file {file} does not exist") from None
    except OSError as exc:
        raise UsageError(f"SLO file {file} cannot be read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"SLO file {file} is not valid TOML: {exc}") from None
    return parse_slo(data, str(file))


@dataclass(frozen=True, slots=True)
class GateOutcome:
    """One gate's result; a failure is this with `status` other than PASS."""

    gate: str
    status: GateStatus
    observed: Metric | None
    threshold: Metric
    comparison: Comparison
    unit: str
    message: str
    samples: int | None = None  # the values the figure rests on, where the gate knows

    @property
    def passed(self) -> bool:
        return self.status is GateStatus.PASS

    @property
    def low_sample(self) -> bool:
        """The figure rests on fewer than LOW_SAMPLE values: its verdict says little."""
        return self.samples is not None and 0 < self.samples < LOW_SAMPLE

    @property
    def severity(self) -> str:
        """`error` fails the run (CI exit 1); a gate is all-or-nothing, there is no warning."""
        return "ok" if self.passed else "error"

    @property
    def limit(self) -> str:
        """The threshold as people read it: `<= 100 ms`, `is false`."""
        unit = f" {self.unit}" if self.unit and self.unit != "count" else ""
        return f"{self.comparison.symbol} {_fmt(self.threshold)}{unit}"

    @property
    def title(self) -> str:
        return f"{self.gate} {self.limit}"


def _fmt(value: Metric | None) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return str(value).lower()
    return f"{value:g}" if float(value).is_integer() else f"{value:.4g}"


def _outcome(gate: Gate, threshold: Metric, summary: RunSummary) -> GateOutcome:
    observed = gate.extract(summary)
    unit = f" {gate.unit}" if gate.unit and gate.unit != "count" else ""
    if observed is None:
        status, message = GateStatus.MISSING, f"{gate.description}: not measured in this run"
    elif gate.comparison.holds(observed, threshold):
        status = GateStatus.PASS
        message = f"{gate.description}: {_fmt(observed)}{unit} (limit {_fmt(threshold)})"
    else:
        status = GateStatus.FAIL
        message = (f"{gate.description}: {_fmt(observed)}{unit}, "
                   f"needs {gate.comparison.symbol} {_fmt(threshold)}{unit}")  # fmt: skip
    samples = gate.samples(summary) if gate.samples is not None else None
    if samples is not None and 0 < samples < LOW_SAMPLE:
        message += f" [low-sample: {samples} samples, under {LOW_SAMPLE}]"
    return GateOutcome(gate.name, status, observed, threshold, gate.comparison, gate.unit,
                       message, samples)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Verdict:
    """All gates of one SLO against one run; `passed` when there are no gates at all."""

    outcomes: tuple[GateOutcome, ...]

    @property
    def passed(self) -> bool:
        return all(o.passed for o in self.outcomes)

    @property
    def failures(self) -> tuple[GateOutcome, ...]:
        return tuple(o for o in self.outcomes if not o.passed)

    def describe_failures(self) -> str:
        return "; ".join(f"{o.gate}: {o.message}" for o in self.failures)


def evaluate(summary: RunSummary, slo: Slo | None) -> Verdict:
    if slo is None:
        return Verdict(())
    return Verdict(
        tuple(_outcome(GATES[name], limit, summary) for name, limit in slo.thresholds.items())
    )
