"""Experiments: series of load runs and what they find (`sweep`, `capacity`).

Each drives `harness.load.run_load` once per step (`steps.load_runner`) and hands the run
directories to `harness.reporting` for their tables; argparse stays in `harness.cli`.

    rows = run_sweep(sweep_steps([10, 100], [1]), load_runner(template), out_dir)
    result = find_capacity(judge_with_slo(load_runner(template), slo, out_dir), CapacitySearch())
"""

from __future__ import annotations

from .capacity import CapacitySearch, StepJudge, find_capacity, judge_with_slo
from .steps import LoadStep, LoadTemplate, StepRunner, cluster_support, load_runner
from .sweep import run_sweep, sweep_steps

__all__ = [
    "CapacitySearch",
    "LoadStep",
    "LoadTemplate",
    "StepJudge",
    "StepRunner",
    "cluster_support",
    "find_capacity",
    "judge_with_slo",
    "load_runner",
    "run_sweep",
    "sweep_steps",
]
