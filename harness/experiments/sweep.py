"""`sweep`: one load run per (users, nodes), each measured into a row of the scaling table
(`harness.reporting.sweep` writes the table)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from .._exceptions import HarnessError
from ..reporting.sweep import SweepRow, failed_row, measure_row
from .steps import LoadStep, StepRunner

__all__ = ["run_sweep", "sweep_steps"]


def sweep_steps(users: Sequence[int], nodes: Sequence[int]) -> list[LoadStep]:
    return [LoadStep(u, n) for n in nodes for u in users]


def run_sweep(
    steps: Sequence[LoadStep],
    run_step: StepRunner,
    out_dir: Path,
    progress: Callable[[str], None] = print,
) -> list[SweepRow]:
    """Run every step in order; a step that fails is a row saying why, and the sweep goes on
    (the point where a server stops coping is a finding)."""
    rows: list[SweepRow] = []
    for index, step in enumerate(steps, start=1):
        prefix = f"[{index}/{len(steps)}] users={step.users} nodes={step.nodes}"
        progress(f"{prefix}: running")
        try:
            row = measure_row(step.users, step.nodes, run_step(step, out_dir))
        except HarnessError as exc:
            row = failed_row(step.users, step.nodes, str(exc))
            progress(f"{prefix}: FAILED: {exc}")
        else:
            progress(f"{prefix}: {row.headline}")
        rows.append(row)
    return rows
