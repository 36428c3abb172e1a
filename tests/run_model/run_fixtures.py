"""Recorded load runs and what today's code derives from them: the contract users rely on.

`fixtures/<scenario>/` holds a real run directory (run.json and the CSVs of a short run
against the bundled reference server, recorded 2026-12-07) and `summary.json` as the load
engine wrote it at the end of that run. `fixtures/<scenario>/expected/` holds what
`crm-harness report` wrote from it: the extended summary.json, summary.md and junit.xml.

The shape test compares keys and JSON types exactly (a key renamed, dropped or turned from
a number into a string breaks every dashboard and CI script that reads it), and the values
too: the CSVs are fixed, so the figures derived from them must not move. A deliberate change
of the shape or the figures regenerates `expected/` and the engine's summary.json with
`python scripts/refresh_run_fixtures.py`, and says so in its commit.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any

__all__ = [
    "FIXTURES",
    "FIXTURE_SLO",
    "REPORT_FILES",
    "copy_run",
    "differences",
    "json_shape",
    "run_names",
]

FIXTURES = Path(__file__).with_name("fixtures")
# Every gate family: latency percentiles, counts, a ratio, a bool, one that is never measured.
FIXTURE_SLO: dict[str, object] = {
    "p99_fanout_ms": 100,
    "p99_e2e_ms": 250,
    "p50_e2e_ms": 1,
    "p90_rest_ack_ms": 100,
    "p99_mutate_ack_ms": 100,
    "mutate_error_ratio": 0.01,
    "loss_final": 0,
    "loss_live": 0,
    "duplicates": 0,
    "out_of_order": 0,
    "isolation_leaks": 0,
    "redaction_leaks": 0,
    "connect_error_ratio": 0.01,
    "bytes_per_update_median": 2000,
    "min_deliveries_per_s": 10,
    "generator_saturated": False,
}
REPORT_FILES = ("summary.json", "summary.md", "junit.xml")


def run_names() -> list[str]:
    return sorted(p.name for p in FIXTURES.iterdir() if (p / "run.json").is_file())


def copy_run(name: str, into: Path) -> Path:
    """The recorded run directory without its expected outputs, under `into/<name>`."""
    target = into / name
    shutil.copytree(FIXTURES / name, target, ignore=shutil.ignore_patterns("expected"))
    return target


def json_shape(value: Any) -> Any:
    """Keys and JSON types, values dropped: {"users": "int", "latency_ms": {...}}."""
    if isinstance(value, dict):
        return {key: json_shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [json_shape(item) for item in value]
    if value is None:
        return "null"
    return type(value).__name__


def differences(expected: Any, actual: Any, path: str = "$") -> list[str]:
    """Where two JSON documents differ, floats compared to 1e-9 relative."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        out = [f"{path}.{k}: missing" for k in expected if k not in actual]
        out += [f"{path}.{k}: unexpected" for k in actual if k not in expected]
        for key in expected:
            if key in actual:
                out += differences(expected[key], actual[key], f"{path}.{key}")
        return out
    if isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            return [f"{path}: {len(expected)} items, got {len(actual)}"]
        return [d for i, (e, a) in enumerate(zip(expected, actual, strict=True))
                for d in differences(e, a, f"{path}[{i}]")]  # fmt: skip
    if type(expected) is not type(actual):
        return [f"{path}: {expected!r} ({json_shape(expected)}), got {actual!r}"]
    if isinstance(expected, float) and math.isclose(expected, actual, rel_tol=1e-9):
        return []
    return [] if expected == actual else [f"{path}: {expected!r}, got {actual!r}"]
