"""Reports and CI gates: HTML/JSON/Markdown/JUnit reports, SLO gates, compare, sweep, capacity.

`write_reports(run_dir, slo=None)` is what `crm-harness load` calls at the end of a run.

Names load lazily: pandas and matplotlib cost a third of a second, and `crm-harness --help`
imports the CLI modules that only need this package's light corners (`runs`, `_defaults`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_HOMES: dict[str, str] = {
    "ReportResult": "._report",
    "write_reports": "._report",
    "RunData": "._rundir",
    "load_run": "._rundir",
    "load_summary": "._rundir",
    **{
        name: ".gates"
        for name in ("GATES", "Comparison", "Gate", "GateOutcome", "GateStatus", "Slo",
                     "Verdict", "evaluate", "load_slo", "parse_slo")
    },
}  # fmt: skip

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


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(home, __name__), name)
