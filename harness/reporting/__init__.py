"""Reports and CI gates: run directory → HTML/JSON/Markdown/JUnit, SLO gates, compare, and the
tables of the experiments (sweep, capacity) from their run directories.

`write_reports(run_dir, slo=None)` is what `crm-harness load` calls at the end of a run. The
experiments that make series of runs are `harness.experiments`'.

Names load lazily: pandas and matplotlib cost a third of a second, and `crm-harness --help`
imports the CLI modules that only need this package's light corner (`_defaults`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..rundir import RunData, RunSummary, load_run, load_summary
    from ._compare_report import (
        ComparisonOutputs,
        comparison_text,
        write_comparison,
        write_comparison_junit,
    )
    from ._defaults import DEFAULT_NOISE_FLOOR_MS, DEFAULT_THRESHOLD_PCT
    from ._report import ReportResult, write_reports
    from ._tables import NODE_HEADERS, fmt_number, markdown_table, node_rows, text_table
    from ._write_table import WRITE_HEADERS, write_rows
    from .capacity import CapacityResult, CapacityStep, write_capacity
    from .compare import RunComparison, compare_runs
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
    from .sweep import SweepRow, write_sweep

_HOMES: dict[str, str] = {
    "ReportResult": "._report",
    "write_reports": "._report",
    **{name: "harness.rundir" for name in ("RunData", "RunSummary", "load_run", "load_summary")},
    **{name: "._compare_report" for name in ("ComparisonOutputs", "comparison_text",
                                             "write_comparison", "write_comparison_junit")},
    **{name: "._defaults" for name in ("DEFAULT_NOISE_FLOOR_MS", "DEFAULT_THRESHOLD_PCT")},
    **{name: ".capacity" for name in ("CapacityResult", "CapacityStep", "write_capacity")},
    **{name: ".compare" for name in ("RunComparison", "compare_runs")},
    **{name: ".sweep" for name in ("SweepRow", "write_sweep")},
    **{name: "._tables" for name in ("NODE_HEADERS", "fmt_number", "markdown_table",
                                     "node_rows", "text_table")},
    **{name: "._write_table" for name in ("WRITE_HEADERS", "write_rows")},
    **{
        name: ".gates"
        for name in ("GATES", "Comparison", "Gate", "GateOutcome", "GateStatus", "Slo",
                     "Verdict", "evaluate", "load_slo", "parse_slo")
    },
}  # fmt: skip

__all__ = [
    "DEFAULT_NOISE_FLOOR_MS",
    "DEFAULT_THRESHOLD_PCT",
    "GATES",
    "NODE_HEADERS",
    "WRITE_HEADERS",
    "CapacityResult",
    "CapacityStep",
    "Comparison",
    "ComparisonOutputs",
    "Gate",
    "GateOutcome",
    "GateStatus",
    "ReportResult",
    "RunComparison",
    "RunData",
    "RunSummary",
    "Slo",
    "SweepRow",
    "Verdict",
    "compare_runs",
    "comparison_text",
    "evaluate",
    "fmt_number",
    "load_run",
    "load_slo",
    "load_summary",
    "markdown_table",
    "node_rows",
    "parse_slo",
    "text_table",
    "write_capacity",
    "write_comparison",
    "write_comparison_junit",
    "write_reports",
    "write_rows",
    "write_sweep",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(home, __name__), name)
