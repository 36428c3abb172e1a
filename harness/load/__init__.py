"""The load engine behind `crm-harness load`: workloads and the Locust scenarios' agents.

Public API (importable without gevent): `run_load`, `LoadConfig`, `Workload`,
`load_workload_file`, `summarize` (summary.json of a run directory, from `harness.rundir`,
which reads what the engine writes). The agents (`agent`, `wire`, `locust_user`) run inside
Locust processes only.

Names load lazily: every Locust process imports this package on its way to the agents, and
importing pandas (`summarize`), httpx and psutil (`run_load`) there cost each generator
process seconds of CPU it never needed (issue 13).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.rundir import summarize

    from .config import DEFAULT_JWT_SECRET, LoadConfig
    from .run_controller import run_load
    from .workload import ACTION_OPS, SCENARIOS, Workload, load_workload_file

_HOMES: dict[str, str] = {
    "summarize": "harness.rundir",
    "DEFAULT_JWT_SECRET": ".config",
    "LoadConfig": ".config",
    "run_load": ".run_controller",
    **{name: ".workload" for name in ("ACTION_OPS", "SCENARIOS", "Workload", "load_workload_file")},
}

__all__ = [
    "ACTION_OPS",
    "DEFAULT_JWT_SECRET",
    "SCENARIOS",
    "LoadConfig",
    "Workload",
    "load_workload_file",
    "run_load",
    "summarize",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(home, __name__), name)
