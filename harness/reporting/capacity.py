"""The capacity report: every step's verdict against the SLO → capacity.json/md/html.

The search itself (ramp, then bisect) is `harness.experiments.capacity`'s. Load tests are
noisy: the answer is "met the SLO at N, failed at M", with every step's verdict kept, never a
single number without its evidence.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from matplotlib.axes import Axes

from ._plots import Plot, render_png
from ._tables import markdown_table
from .formats import render_template
from .gates import Comparison, GateOutcome, Slo

__all__ = ["CapacityResult", "CapacityStep", "limit_use", "write_capacity"]


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
