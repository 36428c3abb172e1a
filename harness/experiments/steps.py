"""One load run per step of an experiment (`sweep`, `capacity`).

Both experiments run a series of `harness.load.run_load` calls that differ only in users (and
for `sweep`, nodes). `LoadTemplate` is everything else; `load_runner(template)` is the
function that runs one step. Tests pass a fake runner instead, so the search and the tables
are tested without starting servers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._exceptions import UsageError

if TYPE_CHECKING:
    from ..load import LoadConfig

__all__ = ["LoadStep", "LoadTemplate", "StepRunner", "cluster_support", "load_runner"]


@dataclass(frozen=True, slots=True)
class LoadStep:
    users: int
    nodes: int = 1

    @property
    def name(self) -> str:
        return f"users-{self.users}-nodes-{self.nodes}"


# Runs one step, writing its run directory under the given parent; returns the run directory.
StepRunner = Callable[[LoadStep, Path], Path]


@dataclass(frozen=True, slots=True)
class LoadTemplate:
    """A load run minus its size."""

    duration_s: float
    scenario: str = "team_sync"
    urls: tuple[str, ...] = ()  # every node of the server under test; () starts one
    jwt_secret: str | None = None
    target: Mapping[str, Any] = field(default_factory=dict)  # harness._target_options values
    workers: int = 0
    spawn_rate: float | None = None  # None: ramp every step up in about 10 s
    workload_file: Path | None = None
    think_time_s: float | None = None
    redis_url: str | None = None  # --nodes > 1: the cluster's shared backends
    database_url: str | None = None
    redis_prefix: str | None = None  # the clusters' Redis key prefix (default: the server's)

    def __post_init__(self) -> None:
        target = self.target
        named = self.jwt_secret or target.get("jwt_private_key") or target.get("token_cmd")
        if self.urls and not named:
            raise UsageError(
                "--url needs users' tokens: --jwt-secret (or JWT_SECRET), --jwt-private-key "
                "or --token-cmd"
            )
        if self.workers < 0:
            raise UsageError(f"--workers must be >= 0, got {self.workers}")
        if self.spawn_rate is not None and not self.spawn_rate > 0:
            raise UsageError(f"--spawn-rate must be > 0, got {self.spawn_rate:g}")
        if self.workload_file is not None and not self.workload_file.is_file():
            raise UsageError(f"workload file {self.workload_file} does not exist")
        if not self.duration_s > 0:
            raise UsageError(f"--duration must be > 0, got {self.duration_s:g} s")

    def spawn_rate_for(self, users: int) -> float:
        return self.spawn_rate if self.spawn_rate is not None else max(10.0, users / 10.0)


def cluster_support() -> str | None:
    """None when `--nodes N>1` can run here, else the one-line reason it cannot (a local
    cluster of the bundled server is needed; the load engine spreads users over nodes)."""
    from harness.bundled_server import unavailable_reason

    return unavailable_reason(cluster=True)


def _config(template: LoadTemplate, step: LoadStep, run_dir: Path, **extra: Any) -> LoadConfig:
    from harness.load import DEFAULT_JWT_SECRET, LoadConfig, Workload, load_workload_file

    workload = load_workload_file(template.workload_file) if template.workload_file else Workload()
    if template.think_time_s is not None:
        workload = workload.with_overrides(think_time_s=template.think_time_s)
    return LoadConfig(
        users=step.users,
        spawn_rate=template.spawn_rate_for(step.users),
        duration_s=template.duration_s,
        urls=template.urls,
        jwt_secret=template.jwt_secret or DEFAULT_JWT_SECRET,
        target=template.target,
        scenario=template.scenario,
        workers=template.workers,
        report_dir=run_dir,
        workload=workload,
        quiet=True,
        **extra,
    )


def load_runner(template: LoadTemplate) -> StepRunner:
    """The real step runner: `harness.load.run_load`, which starts the target per step.

    With the cluster backends given, every step (one node included) runs a fresh local
    cluster on them, so that node counts compare like with like; without, the bundled
    single-node server (or the nodes of `template.urls`).
    """
    from harness.load import run_load

    def run_step(step: LoadStep, parent: Path) -> Path:
        if step.nodes > 1 and not (template.redis_url and template.database_url):
            raise UsageError("--nodes > 1 needs --redis-url and --database-url")
        backends: dict[str, Any] = {}
        if template.redis_url and template.database_url and not template.urls:
            backends = {"nodes": step.nodes, "redis_url": template.redis_url,
                        "database_url": template.database_url,
                        "redis_prefix": template.redis_prefix}  # fmt: skip
        result: Path = run_load(_config(template, step, parent / step.name, **backends))
        return result

    return run_step
