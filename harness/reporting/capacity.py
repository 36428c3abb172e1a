"""`capacity`: the largest user count whose run still meets the SLO (capacity-at-SLO).

Ramp geometrically from `start` by `factor` until a step fails (or `max_users` passes), then
bisect between the last pass and the first fail until they are within `resolution` of each
other or the step budget is spent. Load tests are noisy: the answer is "met the SLO at N,
failed at M", with every step's verdict kept, never a single number without its evidence.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from matplotlib.axes import Axes

from ._plots import Plot, render_png
from ._tables import markdown_table
from .formats import ReportFormat, render_template
from .gates import Comparison, GateOutcome, Slo
from .runs import LoadStep, StepRunner

__all__ = [
    "CapacityResult",
    "CapacitySearch",
    "CapacityStep",
    "StepJudge",
    "find_capacity",
    "judge_with_slo",
    "limit_use",
    "write_capacity",
]


@dataclass(frozen=True, slots=True)
class CapacityStep:
    users: int
    passed: bool
    phase: str  # "ramp" or "bisect"
    failures: tuple[str, ...] = ()  # "gate: message" of each failed gate
    run_dir: str = ""
    generator_saturated: bool = False
    # Per numeric gate, how much of its limit the run used (observed ÷ limit for "at most",
    # limit ÷ observed for "at least"): above 1 the gate failed. Gates with limit 0 are left
    # out, they have no scale.
    limit_use: dict[str, float] = field(default_factory=dict)


def limit_use(outcomes: Sequence[GateOutcome]) -> dict[str, float]:
    use: dict[str, float] = {}
    for o in outcomes:
        if isinstance(o.observed, bool) or o.observed is None or isinstance(o.threshold, bool):
            continue
        if o.comparison is Comparison.AT_MOST and o.threshold > 0:
            use[o.gate] = float(o.observed) / float(o.threshold)
        elif o.comparison is Comparison.AT_LEAST and o.observed > 0:
            use[o.gate] = float(o.threshold) / float(o.observed)
    return use


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
        from .._exceptions import UsageError

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


@dataclass(frozen=True, slots=True)
class CapacityResult:
    capacity: int  # largest user count that met the SLO; 0 when even `start` failed
    first_failure: int | None  # smallest user count seen failing
    steps: list[CapacityStep] = field(default_factory=list)
    reached_max: bool = False  # passed at max_users: the capacity is at least that
    budget_exhausted: bool = False  # bisection stopped by max_steps, not resolution

    @property
    def summary(self) -> str:
        if self.capacity == 0:
            return f"even {self.first_failure} users failed the SLO: capacity is below that"
        if self.reached_max:
            return f"met the SLO up to the maximum tried, {self.capacity} users"
        gap = f", failed at {self.first_failure}" if self.first_failure else ""
        budget = " (step budget spent before the resolution was reached)"
        return (f"capacity at SLO: {self.capacity} users{gap}"
                + (budget if self.budget_exhausted else ""))  # fmt: skip


def find_capacity(judge: StepJudge, search: CapacitySearch) -> CapacityResult:
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
    from ._report import write_reports

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


def write_capacity(result: CapacityResult, slo: Slo, out_dir: Path) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    data = {"capacity": result.capacity, "first_failure": result.first_failure,
            "reached_max": result.reached_max, "budget_exhausted": result.budget_exhausted,
            "summary": result.summary, "slo": {"source": slo.source, "gates": slo.thresholds},
            "steps": [asdict(s) for s in result.steps]}  # fmt: skip
    json_path = out_dir / "capacity.json"
    json_path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    rows = [(s.users, s.phase, "pass" if s.passed else "FAIL", "; ".join(s.failures) or "–",
             "yes" if s.generator_saturated else "") for s in result.steps]  # fmt: skip
    lines = [f"## Capacity at SLO ({slo.source})", "", f"**{result.summary}**", "",
             *markdown_table(("users", "phase", "verdict", "failed gates", "generator saturated"),
                             rows), ""]  # fmt: skip
    if any(s.generator_saturated for s in result.steps):
        lines.append("> ⚠️ The load generator saturated in some steps: the limit found there "
                     "may be the generator's, not the server's. Add --workers.")  # fmt: skip
    markdown = out_dir / "capacity.md"
    markdown.write_text("\n".join(lines) + "\n", encoding="utf-8")
    html = out_dir / "capacity.html"
    html.write_text(render_template(
        "capacity.html.j2", result=result, slo=slo, rows=rows, plots=[_limit_use_plot(result)],
        warning=lines[-1] if lines[-1].startswith(">") else ""), encoding="utf-8")  # fmt: skip
    return {"json": json_path, "markdown": markdown, "html": html}


def _limit_use_plot(result: CapacityResult) -> Plot:
    steps = sorted(result.steps, key=lambda s: s.users)
    gates = sorted({gate for s in steps for gate in s.limit_use})

    def draw(ax: Axes) -> None:
        if not gates:
            ax.text(0.5, 0.5, "no gate with a non-zero numeric limit", ha="center",
                    transform=ax.transAxes)  # fmt: skip
            return
        for gate in gates:
            points = [(s.users, s.limit_use[gate]) for s in steps if gate in s.limit_use]
            ax.plot(*zip(*points, strict=True), marker="o", label=gate)
        ax.axhline(1.0, color="red", linestyle="--", label="limit")
        for s in steps:
            ax.axvline(s.users, color="green" if s.passed else "red", alpha=0.15)
        ax.set_xlabel("users (green: step met the SLO, red: it did not)")
        ax.set_ylabel("share of the limit used")
        ax.legend(fontsize=8)

    return Plot("limit_use", "Share of each gate's limit used, per step", render_png(draw))
