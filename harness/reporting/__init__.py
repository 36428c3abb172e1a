"""Reports and CI gates: HTML/JSON/Markdown/JUnit reports, SLO gates, compare, sweep, capacity.

`write_reports(run_dir, slo=None)` is what `crm-harness load` calls at the end of a run.
"""

from __future__ import annotations

from ._report import ReportResult, write_reports
from ._rundir import RunData, load_run, load_summary
from .gates import (
    GATES,
    Comparison,
    Gate,
    GateOutcome,
    GateStatus,
    Slo,
    Verdict,
    evaluate,
    load_slo,
    parse_slo,
)

__all__ = [
    "GATES",
    "Comparison",
    "Gate",
    "GateOutcome",
    "GateStatus",
    "ReportResult",
    "RunData",
    "Slo",
    "Verdict",
    "evaluate",
    "load_run",
    "load_slo",
    "load_summary",
    "parse_slo",
    "write_reports",
]
