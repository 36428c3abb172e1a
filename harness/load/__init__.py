"""The load engine behind `crm-harness load`: workloads and the Locust scenarios' agents.

Public API (importable without gevent): `run_load`, `LoadConfig`, `Workload`,
`load_workload_file`, `summarize` (summary.json of a run directory, from `harness.rundir`,
which reads what the engine writes). The agents (`agent`, `wire`, `locust_user`) run inside
Locust processes only.
"""

from __future__ import annotations

from harness.rundir import summarize

from .config import DEFAULT_JWT_SECRET, LoadConfig
from .run_controller import fetch_info, run_load
from .workload import ACTION_OPS, SCENARIOS, Workload, load_workload_file

__all__ = [
    "ACTION_OPS",
    "DEFAULT_JWT_SECRET",
    "SCENARIOS",
    "LoadConfig",
    "Workload",
    "fetch_info",
    "load_workload_file",
    "run_load",
    "summarize",
]
