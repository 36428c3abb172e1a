"""`run()`: the suite in-process, for the CLI and for tests that read verdicts back.

    connection = TargetConnection(("http://127.0.0.1:8000",), TokenFactory("secret"))
    result = run(connection, requirement_ids=["EVT-1", "RED-1"])
    result.verdicts()["EVT-1"]      # Verdict.PASS / FAIL / ...

It must be called outside a running event loop (each check runs its own).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from harness.client import TargetConnection

from ._model import ConformanceResult, Verdict
from ._session import CONNECTION_KEY, RESTART_KEY, RESULT_KEY, requirement_ids_of
from .outcomes import NOT_RUN_PREFIX

__all__ = ["ProgressLine", "RunResult", "run"]

CHECKS = "harness.conformance.checks"


@dataclass(frozen=True, slots=True)
class ProgressLine:
    """One finished check, for progress output."""

    index: int
    total: int
    name: str
    requirements: tuple[str, ...]
    outcome: str  # passed / failed / not-run
    duration_s: float
    message: str = ""


@dataclass(slots=True)
class RunResult:
    result: ConformanceResult | None
    pytest_exit_code: int
    errors: list[str] = field(default_factory=list)  # collection or internal errors

    @property
    def ok(self) -> bool:
        return self.result is not None and not self.result.must_failed

    def verdicts(self) -> dict[str, Verdict]:
        return self.result.verdicts() if self.result is not None else {}

    @property
    def summary(self) -> dict[str, int]:
        return self.result.summary if self.result is not None else {}


class _Observer:
    """Reads the result back out of the session and reports progress as checks finish."""

    def __init__(
        self,
        connection: TargetConnection,
        progress: Callable[[ProgressLine], None] | None,
        restart: Callable[[], None] | None,
    ) -> None:
        self.connection = connection
        self.progress = progress
        self.restart = restart
        self.result: ConformanceResult | None = None
        self.errors: list[str] = []
        self._total = 0
        self._done = 0
        self._ids: dict[str, tuple[str, ...]] = {}
        self._state: dict[str, dict[str, Any]] = {}

    def pytest_configure(self, config: pytest.Config) -> None:
        config.stash[CONNECTION_KEY] = self.connection
        if self.restart is not None:
            config.stash[RESTART_KEY] = self.restart

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self._total = len(session.items)
        self._ids = {item.nodeid: requirement_ids_of(item) for item in session.items}

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.errors.append(f"collecting {report.nodeid}: {str(report.longrepr)[-500:]}")

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        state = self._state.setdefault(report.nodeid, {"duration": 0.0, "outcome": "passed"})
        state["duration"] += report.duration
        if report.failed:
            state["outcome"] = "failed"
            crash = getattr(report.longrepr, "reprcrash", None)
            state["message"] = crash.message if crash is not None else str(report.longrepr)
        elif report.skipped and state["outcome"] == "passed":
            state["outcome"] = "not-run"
            longrepr = report.longrepr
            reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
            state["message"] = reason.removeprefix("Skipped: ").removeprefix(NOT_RUN_PREFIX)
        if report.when == "teardown":
            self._done += 1
            lines = str(state.get("message", "")).splitlines()
            line = ProgressLine(
                self._done,
                self._total,
                report.nodeid.split("::", 1)[-1],
                self._ids.get(report.nodeid, ()),
                state["outcome"],
                state["duration"],
                lines[0] if lines else "",
            )
            if self.progress is not None:
                self.progress(line)

    def pytest_internalerror(self, excrepr: Any) -> None:
        self.errors.append(f"internal error: {str(excrepr)[-500:]}")

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self.result = session.config.stash.get(RESULT_KEY, None)


def run(
    connection: TargetConnection,
    *,
    profiles: Sequence[str] | None = None,
    requirement_ids: Sequence[str] | None = None,
    report_dir: str | Path | None = None,
    junit_path: str | Path | None = None,
    restart_cmd: str | None = None,
    restart: Callable[[], None] | None = None,
    keyword: str | None = None,
    quiet_s: float | None = None,
    max_wait_s: float | None = None,
    fuzz_seconds: float | None = None,
    fuzz_seed: int | None = None,
    progress: Callable[[ProgressLine], None] | None = None,
    extra_pytest_args: Sequence[str] = (),
    jwks_url: str | None = None,
    rerun: str | None = None,
) -> RunResult:
    """Run the suite against the connection's URLs (nodes of one cluster) with its token
    source, TLS trust and headers, and return the verdicts.

    `restart` is an in-process alternative to `restart_cmd` for CLU-2 (a callable that
    restarts the target and returns when it is back). `rerun` is the command that repeats
    this run without --req: reports show it with `--req ID` under each failure.
    """
    args = ["--pyargs", CHECKS, "-p", "no:cacheprovider", "-p", "no:terminal"]
    # The terminal reporter is off (the caller shows progress), so ini addopts like -ra would
    # be unknown options: they are dropped.
    args += ["-o", "addopts=", "-o", "asyncio_default_fixture_loop_scope=function"]
    for url in connection.urls:
        args += ["--crm-url", url]
    optional = {
        "--crm-profile": ",".join(profiles) if profiles else None,
        "--crm-req": ",".join(requirement_ids) if requirement_ids else None,
        "--crm-report": str(report_dir) if report_dir is not None else None,
        "--crm-junit": str(junit_path) if junit_path is not None else None,
        "--crm-restart-cmd": restart_cmd,
        "--crm-quiet": str(quiet_s) if quiet_s is not None else None,
        "--crm-max-wait": str(max_wait_s) if max_wait_s is not None else None,
        "--crm-fuzz-seconds": str(fuzz_seconds) if fuzz_seconds is not None else None,
        "--crm-fuzz-seed": str(fuzz_seed) if fuzz_seed is not None else None,
        "--crm-jwks-url": jwks_url,
        "--crm-rerun": rerun,
        "-k": keyword,
    }
    for option, value in optional.items():
        if value:
            args += [option, value]
    args += list(extra_pytest_args)
    observer = _Observer(connection, progress, restart)
    code = pytest.main(args, plugins=[observer])
    exit_code = int(code)
    if observer.result is None and not observer.errors:
        observer.errors.append(f"pytest ended with exit code {exit_code} and no result")
    return RunResult(observer.result, exit_code, observer.errors)
