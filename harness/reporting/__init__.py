"""Reports and CI gates: HTML/JSON/Markdown/JUnit reports, SLO gates, compare, sweep, capacity.

`write_reports(run_dir, slo=None)` is what `crm-harness load` calls at the end of a run.

Names load lazily: pandas and matplotlib cost a third of a second, and `crm-harness --help`
imports the CLI modules that only need this package's light corners (`runs`, `_defaults`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..rundir import RunData, RunSummary, load_run, load_summary
    from ._report import ReportResult, write_reports
    from .capacity import CapacityResult, CapacitySearch, find_capacity, judge_with_slo
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
    from .runs import LoadStep, LoadTemplate, load_runner
    from .sweep import SweepRow, run_sweep, write_sweep

_HOMES: dict[str, str] = {
    "ReportResult": "._report",
    "write_reports": "._report",
    **{name: "harness.rundir" for name in ("RunData", "RunSummary", "load_run", "load_summary")},
    **{name: ".capacity" for name in ("CapacityResult", "CapacitySearch", "find_capacity",
                                      "judge_with_slo")},
    **{name: ".compare" for name in ("RunComparison", "compare_runs")},
    **{name: ".runs" for name in ("LoadStep", "LoadTemplate", "load_runner")},
    **{name: ".sweep" for name in ("SweepRow", "run_sweep", "write_sweep")},
    **{
        name: ".gates"
        for name in ("GATES", "Comparison", "Gate", "GateOutcome", "GateStatus", "Slo",
                     "Verdict", "evaluate", "load_slo", "parse_slo")
    },
}  # fmt: skip

__all__ = [
    "GATES",
    "CapacityResult",
    "CapacitySearch",
    "Comparison",
    "Gate",
    "GateOutcome",
    "GateStatus",
    "LoadStep",
    "LoadTemplate",
    "ReportResult",
    "RunComparison",
    "RunData",
    "RunSummary",
    "Slo",
    "SweepRow",
    "Verdict",
    "compare_runs",
    "evaluate",
    "find_capacity",
    "judge_with_slo",
    "load_run",
    "load_runner",
    "load_slo",
    "load_summary",
    "parse_slo",
    "run_sweep",
    "write_reports",
    "write_sweep",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(home, __name__), name)
