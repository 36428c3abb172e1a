"""`write_reports`: the one entry point `crm-harness report` and `crm-harness load` call."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .._exceptions import GateFailed
from ..rundir import RunSummary, load_run
from ._report_context import ReportContext, build_context
from .formats import ReportFormat, default_formats
from .gates import Slo, Verdict, load_slo

__all__ = ["ReportResult", "write_reports"]


@dataclass(frozen=True, slots=True)
class ReportResult:
    run_dir: Path
    verdict: Verdict
    slo_given: bool
    outputs: dict[str, Path]  # format name → file written
    summary: RunSummary  # the run's figures (summary.json as written, typed)

    @property
    def exit_code(self) -> int:
        """1 when an SLO the caller gave failed; default correctness gates only colour the page."""
        return 1 if self.slo_given and not self.verdict.passed else 0

    def raise_for_gates(self) -> None:
        """`GateFailed` (exit 1, one line naming each failed gate) when a given SLO failed:
        what `crm-harness load --slo` needs after its run."""
        if self.exit_code:
            failed = self.verdict.failures
            raise GateFailed(
                f"{len(failed)} SLO gate(s) failed: {self.verdict.describe_failures()} "
                f"(report: {self.outputs.get('html', self.run_dir)})"
            )


def _context(run_dir: Path | str, slo: Slo | Path | str | None,
             baseline: Path | str | None, recompute: bool) -> ReportContext:  # fmt: skip
    parsed = slo if isinstance(slo, Slo) or slo is None else load_slo(slo)
    base = build_context(load_run(baseline)) if baseline is not None else None
    return build_context(load_run(run_dir), parsed, base, recompute=recompute)


def write_reports(
    run_dir: Path | str,
    slo: Slo | Path | str | None = None,
    *,
    junit: Path | str | None = None,
    baseline: Path | str | None = None,
    formats: Sequence[ReportFormat] | None = None,
    recompute: bool = False,
) -> ReportResult:
    """Write report.html, summary.json, summary.md and junit.xml into `run_dir`.

    `slo` is a parsed `Slo` or a path to an SLO TOML file; `baseline` a refetch_baseline run
    for the incremental-vs-refetch table; `recompute` has the load engine's analysis redo
    summary.json from the CSVs. Bad input raises `UsageError` before anything is written.
    """
    context = _context(run_dir, slo, baseline, recompute)
    out_dir = Path(run_dir)
    outputs = {fmt.name: fmt.write(context, out_dir) for fmt in formats or default_formats(junit)}
    return ReportResult(out_dir, context.verdict, context.slo_given, outputs, context.summary)
