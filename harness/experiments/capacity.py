"""`capacity`: the largest user count whose run still meets the SLO (capacity-at-SLO).

Ramp geometrically from `start` by `factor` until a step fails (or `max_users` passes), then
bisect between the last pass and the first fail until they are within `resolution` of each
other or the step budget is spent. `harness.reporting.capacity` writes the result.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from .._exceptions import UsageError
from ..reporting import write_reports
from ..reporting.capacity import CapacityResult, CapacityStep, limit_use
from ..reporting.formats import ReportFormat
from ..reporting.gates import Slo
from .steps import LoadStep, StepRunner

__all__ = ["CapacitySearch", "StepJudge", "find_capacity", "judge_with_slo"]

# Runs and judges one user count.
StepJudge = Callable[[int], CapacityStep]


@dataclass(frozen=True, slots=True)
class CapacitySearch:
    start: int = 100
    factor: float = 2.0
    max_users: int = 20000
    max_steps: int = 12
    resolution: float = 0.1  # stop bisecting when fail − pass ≤ resolution × pass

    def __post_init__(self) -> None:
        if self.start < 1:
            raise UsageError(f"--start must be >= 1, got {self.start}")
        if not self.factor > 1:
            raise UsageError(f"--factor must be > 1, got {self.factor:g}")
        if self.max_users < self.start:
            raise UsageError(f"--max ({self.max_users}) must be >= --start ({self.start})")
        if self.max_steps < 1:
            raise UsageError(f"--max-steps must be >= 1, got {self.max_steps}")
        if not 0 < self.resolution < 1:
            raise UsageError(f"--resolution must be between 0 and 1, got {self.resolution:g}")


def find_capacity(judge: StepJudge, search: CapacitySearch) -> CapacityResult:
    """Ramp, then bisect; every step judged is in the result, with its phase."""
    steps: list[CapacityStep] = []

    def run(users: int, phase: str) -> bool:
        outcome = judge(users)
        steps.append(replace(outcome, phase=phase))
        return outcome.passed

    last_pass: int | None = None
    first_fail: int | None = None
    users = search.start
    while len(steps) < search.max_steps:
        if not run(users, "ramp"):
            first_fail = users
            break
        last_pass = users
        if users >= search.max_users:
            return CapacityResult(users, None, steps, reached_max=True)
        users = min(search.max_users, max(users + 1, math.ceil(users * search.factor)))
    if last_pass is None:
        return CapacityResult(0, first_fail, steps)
    if first_fail is None:  # budget spent while still ramping
        return CapacityResult(last_pass, None, steps, budget_exhausted=True)
    while first_fail - last_pass > max(1, search.resolution * last_pass):
        if len(steps) >= search.max_steps:
            return CapacityResult(last_pass, first_fail, steps, budget_exhausted=True)
        middle = (last_pass + first_fail) // 2
        if run(middle, "bisect"):
            last_pass = middle
        else:
            first_fail = middle
    return CapacityResult(last_pass, first_fail, steps)


def judge_with_slo(
    run_step: StepRunner,
    slo: Slo,
    out_dir: Path,
    progress: Callable[[str], None] = print,
    formats: Sequence[ReportFormat] | None = None,
) -> StepJudge:
    """Run one step with the real runner and judge its run directory by the SLO; each
    step's reports (all formats unless `formats` says otherwise) go into its run directory."""
    counter = iter(range(1, 1_000_000))

    def judge(users: int) -> CapacityStep:
        prefix = f"[step {next(counter)}] users={users}"
        progress(f"{prefix}: running")
        run_dir = run_step(LoadStep(users), out_dir)
        result = write_reports(run_dir, slo, formats=formats)
        saturated = bool(result.summary.generator.saturated)
        failures = tuple(f"{f.gate}: {f.message}" for f in result.verdict.failures)
        verdict = "PASS" if result.verdict.passed else "FAIL (" + "; ".join(failures) + ")"
        progress(f"{prefix}: {verdict}" + (" [GENERATOR SATURATED]" if saturated else ""))
        return CapacityStep(users, result.verdict.passed, "", failures, str(run_dir), saturated,
                            limit_use(result.verdict.outcomes))  # fmt: skip

    return judge
