"""Writing a `RunComparison`: terminal table, compare.md, compare.json, compare.html."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..rundir import ExtraOp
from ._plots import Plot, bars_draw, cdf_plot, render_png
from ._tables import fmt_number, markdown_table, text_table
from .compare import Change, MetricDelta, RunComparison
from .formats import JunitCase, render_template, write_junit
from .refetch import CostTable, update_costs

__all__ = [
    "ComparisonOutputs",
    "comparison_rows",
    "comparison_text",
    "write_comparison",
    "write_comparison_junit",
]

HEADERS = ("metric", "base", "new", "change", "verdict", "detail")


def _relative(delta: MetricDelta) -> str:
    relative = delta.relative_pct
    if relative is not None:
        return f"{relative:+.1f}%"
    difference = delta.difference
    return "–" if difference is None else f"{difference:+g}"


def comparison_rows(comparison: RunComparison) -> list[tuple[str, ...]]:
    return [
        (d.metric, fmt_number(d.base), fmt_number(d.new), _relative(d), d.change.value, d.reason)
        for d in comparison.deltas
    ]


def comparison_text(comparison: RunComparison) -> list[str]:
    """The comparison as the lines of a terminal table (`crm-harness compare`)."""
    return text_table(HEADERS, comparison_rows(comparison))


def _headline(comparison: RunComparison) -> str:
    regressions = comparison.regressions
    if not regressions:
        return (f"no regression beyond {comparison.threshold_pct:g}% "
                f"(noise floor {comparison.noise_floor_ms:g} ms)")  # fmt: skip
    return f"{len(regressions)} regression(s): " + ", ".join(d.metric for d in regressions)


def _refetch_costs(comparison: RunComparison) -> CostTable | None:
    """The incremental-vs-refetch table when exactly one of the runs refetches."""
    refetching = [(c.run.actions["op"] == ExtraOp.REFETCH).any() for c in (comparison.base,
                                                                       comparison.new)]  # fmt: skip
    if refetching == [False, True]:
        return update_costs(comparison.base, comparison.new)
    if refetching == [True, False]:
        return update_costs(comparison.new, comparison.base)
    return None


def _plots(comparison: RunComparison) -> list[Plot]:
    plots = []
    for kind, (base, new) in comparison.samples.items():
        draw = cdf_plot([("base", base), ("new", new)], f"{kind} latency (ms, log scale)")
        plots.append(Plot(f"cdf_{kind}", f"{kind} latency CDF: base vs new", render_png(draw)))
    latency = [d for d in comparison.deltas if d.unit == "ms"]
    plots.append(Plot("percentiles", "Latency percentiles: base vs new", render_png(bars_draw(
        [d.metric for d in latency],
        [("base", [d.base or 0.0 for d in latency]), ("new", [d.new or 0.0 for d in latency])],
        "ms", "latency samples"))))  # fmt: skip
    return plots


@dataclass(frozen=True, slots=True)
class ComparisonOutputs:
    html: Path
    markdown: Path
    json: Path


def write_comparison(comparison: RunComparison, out_dir: Path) -> ComparisonOutputs:
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = comparison_rows(comparison)
    costs = _refetch_costs(comparison)
    names = (comparison.base.run.name, comparison.new.run.name)
    md = [f"## Compare: {names[0]} → {names[1]}", "", f"**{_headline(comparison)}**", ""]
    md += [f"> ⚠️ {w}" for w in comparison.warnings]
    md += ["", *markdown_table(HEADERS, rows), ""]
    if costs is not None:
        md += ["### Incremental updates vs full refetch", "",
               *markdown_table(costs.headers, costs.rows), ""]  # fmt: skip
    markdown = out_dir / "compare.md"
    markdown.write_text("\n".join(md), encoding="utf-8")
    data = {
        "base": str(comparison.base.run.path), "new": str(comparison.new.run.path),
        "threshold_pct": comparison.threshold_pct, "noise_floor_ms": comparison.noise_floor_ms,
        "regressions": [d.metric for d in comparison.regressions],
        "metrics": [{"metric": d.metric, "unit": d.unit, "base": d.base, "new": d.new,
                     "relative_pct": d.relative_pct, "change": d.change.value,
                     "p_value": d.p_value, "reason": d.reason}
                    for d in comparison.deltas],
        "warnings": list(comparison.warnings),
    }  # fmt: skip
    json_path = out_dir / "compare.json"
    json_path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    html = out_dir / "compare.html"
    html.write_text(render_template(
        "compare.html.j2", names=names, headline=_headline(comparison),
        passed=not comparison.regressions, warnings=comparison.warnings, headers=HEADERS,
        rows=rows, regression=Change.REGRESSION.value, plots=_plots(comparison), costs=costs,
    ), encoding="utf-8")  # fmt: skip
    return ComparisonOutputs(html, markdown, json_path)


def write_comparison_junit(comparison: RunComparison, path: Path) -> Path:
    """One testcase per metric; a regression is a failure."""
    cases = [
        JunitCase(
            d.metric,
            f"{d.metric} regressed: {d.reason}" if d.change is Change.REGRESSION else None,
            f"base {fmt_number(d.base)} → new {fmt_number(d.new)} ({_relative(d)}) {d.reason}",
        )
        for d in comparison.deltas
    ]
    names = f"{comparison.base.run.name} → {comparison.new.run.name}"
    return write_junit(path, f"crm-harness compare: {names}", "crm-harness.compare", cases)
