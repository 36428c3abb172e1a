"""The active half of the plugin: target, selection, outcomes → verdicts → reports."""

from __future__ import annotations

import dataclasses
import json
import secrets
import sys
import time
from collections.abc import Callable, Generator, Iterable, Mapping
from typing import Any

import pytest

from harness._exceptions import HarnessError
from harness.client import INSECURE_WARNING, TARGET_OPTIONS, TargetConnection, target_connection
from harness.spec import REQUIREMENTS, Profile

from ._model import ConformanceResult, Outcome, TestRecord
from ._node_view import NodeView
from ._target import DEFAULT_FUZZ_S, DEFAULT_MAX_WAIT_S, DEFAULT_QUIET_S, Target, load_target
from .evidence import TRANSCRIPT_KEY, default_rerun_base
from .failures import CheckFailure, FailureRecord
from .outcomes import EXERCISED_PROPERTY, NOT_RUN_PREFIX, NOTE_PROPERTY
from .payload_check import VIOLATION_PROPERTY

__all__ = [
    "CHECKS_PACKAGE",
    "CONNECTION_KEY",
    "RESTART_KEY",
    "RESULT_KEY",
    "TARGET_KEY",
    "ConformanceSession",
    "requirement_ids_of",
]

TARGET_KEY = pytest.StashKey[Target]()
# The connection `run()` was given (its token source may be an object no option can name);
# without it, the session builds one from the --crm-* options.
CONNECTION_KEY = pytest.StashKey[TargetConnection]()
RESULT_KEY = pytest.StashKey[ConformanceResult]()
# An in-process restart of the target (the bundled server's), set by `run()`: CLU-2.
RESTART_KEY = pytest.StashKey[Callable[[], None]]()
_FAILURE_ATTR = "crm_failure"
_FRAMES_ATTR = "crm_frames"
CHECKS_PACKAGE = "harness.conformance.checks"


def _split(value: str | list[str] | None) -> list[str]:
    """`A,B`, or the values of a repeated option, each of which may be `A,B`."""
    values = value if isinstance(value, list) else [value or ""]
    return [part.strip() for v in values for part in v.split(",") if part.strip()]


def requirement_ids_of(item: pytest.Item) -> tuple[str, ...]:
    ids: list[str] = []
    for marker in item.iter_markers("req"):
        ids.extend(str(a) for a in marker.args)
    return tuple(dict.fromkeys(ids))


class ConformanceSession:
    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.urls: list[str] = list(config.getoption("--crm-url"))
        self.wanted_ids = set(_split(config.getoption("--crm-req")))
        self.profile_option = _split(config.getoption("--crm-profile"))
        self.records: list[TestRecord] = []
        self.not_run_reasons: dict[str, str] = {}
        self.started = time.monotonic()
        self.target: Target | None = None
        self.selected_profiles: list[str] = []
        self._ids_by_nodeid: dict[str, tuple[str, ...]] = {}
        self._pending: dict[str, dict[str, Any]] = {}
        self.exercised: dict[str, set[str]] = {}  # requirement -> paths some check drove
        self.node_view: NodeView | None = None

    # setup ----------------------------------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        unknown = sorted(self.wanted_ids - set(REQUIREMENTS))
        if unknown:
            raise pytest.UsageError(f"--crm-req: unknown requirement id(s) {', '.join(unknown)}")
        bad = [p for p in self.profile_option if p not in {x.value for x in Profile}]
        if bad:
            raise pytest.UsageError(f"--crm-profile: unknown profile(s) {', '.join(bad)}")
        quiet = self.config.getoption("--crm-quiet")
        max_wait = self.config.getoption("--crm-max-wait")
        fuzz_s = self.config.getoption("--crm-fuzz-seconds")
        fuzz_seed = self.config.getoption("--crm-fuzz-seed")
        if fuzz_s is not None and fuzz_s < 0:
            raise pytest.UsageError("--crm-fuzz-seconds must be 0 or more")
        try:
            connection = self._connection()
            probe = load_target(connection)
        except HarnessError as exc:
            raise pytest.UsageError(str(exc)) from None
        self.selected_profiles = self.profile_option or sorted(
            p.value for p in Profile if probe.declares(p)
        )
        if Profile.CORE.value not in self.selected_profiles and not self.profile_option:
            self.selected_profiles.append(Profile.CORE.value)
        self.target = Target(
            connection=connection,
            info=probe.info,
            node_infos=probe.node_infos,
            restart_cmd=self.config.getoption("--crm-restart-cmd"),
            quiet_s=DEFAULT_QUIET_S if quiet is None else quiet,
            max_wait_s=DEFAULT_MAX_WAIT_S if max_wait is None else max_wait,
            selected_profiles=frozenset(self.selected_profiles),
            fuzz_seconds=DEFAULT_FUZZ_S if fuzz_s is None else fuzz_s,
            fuzz_seed=secrets.randbelow(2**31) if fuzz_seed is None else fuzz_seed,
            jwks_url=self.config.getoption("--crm-jwks-url"),
        )
        self.config.stash[TARGET_KEY] = self.target
        self.node_view = NodeView(connection)
        self.node_view.start()
        self.started = time.monotonic()

    def _connection(self) -> TargetConnection:
        given = self.config.stash.get(CONNECTION_KEY, None)
        if given is not None:
            return given
        values = {o.dest: self.config.getoption(f"crm_{o.dest}") for o in TARGET_OPTIONS}
        connection = target_connection(self.urls, values)
        if connection.options.insecure:
            print(INSECURE_WARNING, file=sys.stderr)
        return connection

    def selected_ids(self) -> list[str]:
        profiles = set(self.selected_profiles)
        ids = [rid for rid, r in REQUIREMENTS.items() if r.profile.value in profiles]
        if self.wanted_ids:
            ids = [rid for rid in ids if rid in self.wanted_ids]
        return ids

    def pytest_collection_modifyitems(
        self, session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        selected = set(self.selected_ids())
        keep: list[pytest.Item] = []
        dropped: list[pytest.Item] = []
        for item in items:
            ids = requirement_ids_of(item)
            if not ids:
                module = getattr(item, "module", None)
                if getattr(module, "__name__", "").startswith(CHECKS_PACKAGE):
                    raise pytest.UsageError(f"{item.nodeid}: a check must declare @pytest.mark.req")
                keep.append(item)
                continue
            unknown = [rid for rid in ids if rid not in REQUIREMENTS]
            if unknown:
                raise pytest.UsageError(f"{item.nodeid}: unknown requirement id(s) {unknown}")
            if not selected.intersection(ids):
                dropped.append(item)
                continue
            keep.append(item)
            reason = self._undeclared_reason(ids)
            if reason:
                item.add_marker(pytest.mark.skip(reason=NOT_RUN_PREFIX + reason))
        if dropped:
            config.hook.pytest_deselected(items=dropped)
        # Run in spec order (by each check's first id), as the report reads.
        order = {rid: i for i, rid in enumerate(REQUIREMENTS)}
        keep.sort(key=lambda it: min((order.get(r, 0) for r in requirement_ids_of(it)), default=0))
        items[:] = keep

    def _undeclared_reason(self, ids: Iterable[str]) -> str:
        """Why none of these ids can be checked on this target, or "" when some can."""
        assert self.target is not None
        reasons = []
        for rid in ids:
            profile = REQUIREMENTS[rid].profile
            if self.target.declares(profile):
                return ""
            reasons.append(_undeclared(profile))
        return reasons[0] if reasons else ""

    # outcomes -------------------------------------------------------------------------------

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        if call.excinfo is not None and isinstance(call.excinfo.value, CheckFailure):
            setattr(report, _FAILURE_ATTR, call.excinfo.value.record())
        transcript = item.stash.get(TRANSCRIPT_KEY, None)
        # A schema violation is attached as the fixture closes the clients (teardown).
        violated = report.when == "teardown" and any(
            key == VIOLATION_PROPERTY for key, _ in report.user_properties
        )
        if (report.failed or violated) and transcript is not None:
            # Taken now, before teardown closes the clients: the frames up to the failure.
            setattr(report, _FRAMES_ATTR, tuple(transcript.to_json()))
        return report

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        ids = [rid for rid in self._ids_by_nodeid.get(report.nodeid, ())]
        if not ids:
            return
        state = self._pending.setdefault(report.nodeid, {"duration": 0.0})
        state["duration"] += report.duration
        # The first failure (or skip) decides: a teardown error after a failed call must not
        # hide the call's CheckFailure.
        if (report.failed or report.skipped) and "outcome" not in state:
            state["outcome"] = report
        if report.when == "teardown":
            for key, value in report.user_properties:
                if key == EXERCISED_PROPERTY:
                    rid, paths = json.loads(str(value))
                    self.exercised.setdefault(rid, set()).update(paths)
            if self.node_view is not None:
                self.node_view.add_deliveries(report.user_properties)
            state["violations"] = [
                json.loads(str(v)) for k, v in report.user_properties if k == VIOLATION_PROPERTY
            ]
            state["violation_frames"] = getattr(report, _FRAMES_ATTR, ())
            self._finish(report.nodeid, ids, state, self._notes(report))

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self._ids_by_nodeid = {item.nodeid: requirement_ids_of(item) for item in session.items}

    def _finish(
        self,
        nodeid: str,
        ids: Iterable[str],
        state: dict[str, Any],
        notes: dict[str, tuple[Outcome, str]],
    ) -> None:
        """One record per declared id. `notes` come from the teardown report, which carries
        every user property the test attached."""
        report: pytest.TestReport | None = state.get("outcome")
        duration = float(state["duration"])
        name = nodeid.split("::", 1)[-1]
        for rid in ids:
            outcome, message, failure = Outcome.PASSED, "", None
            if report is not None and report.skipped:
                outcome, message = Outcome.NOT_RUN, _skip_reason(report)
            elif report is not None and report.failed:
                failure = getattr(report, _FAILURE_ATTR, None) or _plain_failure(report)
                failure = dataclasses.replace(failure, frames=getattr(report, _FRAMES_ATTR, ()))
                if failure.requirement not in (None, rid):
                    outcome = Outcome.NOT_RUN
                    message = f"not reached: the check failed on {failure.requirement} first"
                    failure = None
                else:
                    said = (failure.title, failure.message)
                    outcome, message = Outcome.FAILED, ": ".join(part for part in said if part)
            if outcome is Outcome.PASSED and rid in notes:
                outcome, message = notes[rid]
            self.records.append(TestRecord(name, rid, outcome, message, duration, failure))
        frames = state.get("violation_frames", ())
        self.records.extend(_violation_records(name, state.get("violations", ()), frames))

    @staticmethod
    def _notes(report: pytest.TestReport) -> dict[str, tuple[Outcome, str]]:
        found: dict[str, tuple[Outcome, str]] = {}
        for key, value in report.user_properties:
            if key == NOTE_PROPERTY:
                data = json.loads(str(value))
                found[data["requirement"]] = (Outcome(data["outcome"]), data["message"])
        return found

    # results --------------------------------------------------------------------------------

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if self.target is None:
            return
        for rid in self.selected_ids():
            profile = REQUIREMENTS[rid].profile
            if not self.target.declares(profile):
                self.not_run_reasons[rid] = _undeclared(profile)
        result = ConformanceResult.build(
            self.target.info,
            self.selected_ids(),
            self.records,
            not_run_reasons=self.not_run_reasons,
            urls=self.target.urls,
            duration_s=time.monotonic() - self.started,
            exercised=self.exercised,
            rerun=self.config.getoption("--crm-rerun")
            or default_rerun_base(self.urls, self.profile_option),
            nodes=self.node_view.rows() if self.node_view is not None else None,
        )
        self.config.stash[RESULT_KEY] = result
        from .report import write_reports

        write_reports(
            result,
            report_dir=self.config.getoption("--crm-report"),
            junit_path=self.config.getoption("--crm-junit"),
        )


def _violation_records(
    name: str, violations: Iterable[dict[str, Any]], frames: tuple[Mapping[str, Any], ...] = ()
) -> list[TestRecord]:
    """A payload that broke its schema fails the requirement defining it (issue 17), whatever
    the check that happened to receive it was about."""
    records = []
    for v in violations:
        times = f" ({v['count']} payloads)" if v.get("count", 1) > 1 else ""
        message = f"{v['where']}: {v['path']}: {v['message']}{times}"
        failure = FailureRecord(
            "payload breaks its schema", message, requirement=v["requirement"],
            expected={"schema": v["schema"], "path": v["path"]}, observed=v["message"],
            frames=frames,
        )  # fmt: skip
        records.append(TestRecord(f"{name} [payload]", v["requirement"], Outcome.FAILED,
                                  f"{failure.title}: {message}", 0.0, failure))  # fmt: skip
    return records


def _undeclared(profile: Profile) -> str:
    if profile is Profile.CLUSTER:
        return "needs at least 2 --crm-url nodes of one cluster"
    return f"the target does not declare profile {profile.value!r}"


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    reason = reason.removeprefix("Skipped: ")
    return reason.removeprefix(NOT_RUN_PREFIX)


def _plain_failure(report: pytest.TestReport) -> FailureRecord:
    crash = getattr(report.longrepr, "reprcrash", None)
    message = crash.message if crash is not None else str(report.longrepr)[-800:]
    title = "error in setup or teardown" if report.when != "call" else "check failed"
    return FailureRecord(title, message)
