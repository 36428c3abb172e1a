"""The conformance suite: pytest checks of any server against SPEC.md, by requirement id.

    from harness.client import TargetConnection, TokenFactory
    from harness.conformance import run
    connection = TargetConnection(("http://127.0.0.1:8000",), TokenFactory("secret"))
    result = run(connection, requirement_ids=["EVT-1"])
    result.verdicts()            # {"EVT-1": Verdict.PASS, ...}

Kept import-light: `plugin.py` (a pytest11 entry point) imports this package in every pytest
run, so `run` and friends load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._model import ConformanceResult, Outcome, RequirementResult, TestRecord, Verdict
    from ._node_view import NODE_COLUMNS
    from ._run_suite import ProgressLine, RunResult, run
    from ._target import Target, load_target
    from .check_api import Crm
    from .failures import CheckFailure, Severity

__all__ = [
    "NODE_COLUMNS",
    "CheckFailure",
    "ConformanceResult",
    "Crm",
    "Outcome",
    "ProgressLine",
    "RequirementResult",
    "RunResult",
    "Severity",
    "Target",
    "TestRecord",
    "Verdict",
    "load_target",
    "run",
]

_HOMES = {
    "ConformanceResult": "_model",
    "Outcome": "_model",
    "RequirementResult": "_model",
    "TestRecord": "_model",
    "Verdict": "_model",
    "ProgressLine": "_run_suite",
    "RunResult": "_run_suite",
    "run": "_run_suite",
    "Target": "_target",
    "load_target": "_target",
    "CheckFailure": "failures",
    "Severity": "failures",
    "Crm": "check_api",
    "NODE_COLUMNS": "_node_view",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{home}"), name)
