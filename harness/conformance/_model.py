"""Verdicts per requirement id, Autobahn style, computed from the outcomes of the checks."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from harness.spec import PATHS, REQUIREMENTS, SPEC_VERSION, Level, Requirement

from .failures import FailureRecord

__all__ = [
    "ConformanceResult",
    "Outcome",
    "RequirementResult",
    "TestRecord",
    "Verdict",
    "compute_verdict",
    "summarise",
]


class Verdict(StrEnum):
    PASS = "pass"
    NON_STRICT = "non-strict"  # a SHOULD missed
    FAIL = "fail"  # a MUST broken
    INFO = "info"  # observed and reported, nothing to judge
    NOT_RUN = "not-run"  # could not be checked here; the message says why


class Outcome(StrEnum):
    """What one test said about one requirement id."""

    PASSED = "passed"
    FAILED = "failed"
    NON_STRICT = "non-strict"
    INFO = "info"
    NOT_RUN = "not-run"


@dataclass(frozen=True, slots=True)
class TestRecord:
    """One test's outcome for one of the ids it declares."""

    __test__ = False  # not a pytest test class

    name: str
    requirement: str
    outcome: Outcome
    message: str = ""
    duration_s: float = 0.0
    failure: FailureRecord | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "outcome": self.outcome.value,
            "message": self.message,
            "duration_s": round(self.duration_s, 3),
        }
        if self.failure is not None:
            data["failure"] = self.failure.to_json()
        return data


@dataclass(frozen=True, slots=True)
class RequirementResult:
    requirement: Requirement
    verdict: Verdict
    tests: tuple[TestRecord, ...] = ()
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        req = self.requirement
        data: dict[str, Any] = {
            "verdict": self.verdict.value,
            "profile": req.profile.value,
            "level": req.level.value,
            "text": req.text,
            "tests": [t.to_json() for t in self.tests],
        }
        if self.reason:
            data["reason"] = self.reason
        return data


def compute_verdict(requirement: Requirement, records: Sequence[TestRecord]) -> tuple[Verdict, str]:
    """Fold a requirement's test outcomes into one verdict and, where useful, why."""
    ran = [r for r in records if r.outcome is not Outcome.NOT_RUN]
    if not ran:
        reasons = sorted({r.message for r in records if r.message})
        return Verdict.NOT_RUN, "; ".join(reasons) or "no check of this requirement was run"
    failed = [r for r in ran if r.outcome is Outcome.FAILED]
    if failed:
        verdict = Verdict.FAIL if requirement.level is Level.MUST else Verdict.NON_STRICT
        return verdict, failed[0].message
    non_strict = [r for r in ran if r.outcome is Outcome.NON_STRICT]
    if non_strict:
        return Verdict.NON_STRICT, non_strict[0].message
    if any(r.outcome is Outcome.PASSED for r in ran):
        return Verdict.PASS, ""
    return Verdict.INFO, ran[0].message


@dataclass(slots=True)
class ConformanceResult:
    """Everything a report needs: the target, and a verdict for every selected id."""

    target: Mapping[str, Any]
    requirements: dict[str, RequirementResult] = field(default_factory=dict)
    spec_version: str = SPEC_VERSION
    urls: tuple[str, ...] = ()
    duration_s: float = 0.0
    exercised: dict[str, frozenset[str]] = field(default_factory=dict)
    rerun: str = ""  # the run's command without --req: `rerun_command(rid)` adds one id
    # The cluster view: {node URL: figures, ..., "sum": figures} (see _node_view)
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)

    def rerun_command(self, requirement_id: str) -> str:
        return f"{self.rerun} --req {requirement_id}" if self.rerun else ""

    def failing(self) -> list[str]:
        """Ids whose verdict is fail or non-strict, in spec order (what a report leads with)."""
        bad = (Verdict.FAIL, Verdict.NON_STRICT)
        return [rid for rid, r in self.requirements.items() if r.verdict in bad]

    def coverage(self) -> dict[str, dict[str, bool]]:
        """The (requirement × path) matrix of the selected ids: each path the spec names for
        an id (harness.spec.PATHS), and whether some check of this run drove it."""
        return {
            rid: {path: path in self.exercised.get(rid, frozenset()) for path in PATHS[rid]}
            for rid in self.requirements
            if rid in PATHS
        }

    @property
    def summary(self) -> dict[str, int]:
        return summarise(r.verdict for r in self.requirements.values())

    @property
    def must_failed(self) -> bool:
        return any(r.verdict is Verdict.FAIL for r in self.requirements.values())

    def verdict(self, requirement_id: str) -> Verdict:
        return self.requirements[requirement_id].verdict

    def verdicts(self) -> dict[str, Verdict]:
        return {rid: r.verdict for rid, r in self.requirements.items()}

    def to_json(self) -> dict[str, Any]:
        requirements = {rid: r.to_json() for rid, r in self.requirements.items()}
        for rid in self.failing():
            if self.rerun:
                requirements[rid]["rerun"] = self.rerun_command(rid)
        return {
            "specVersion": self.spec_version,
            "target": dict(self.target),
            "summary": self.summary,
            "requirements": requirements,
            "coverage": self.coverage(),
            "rerun": self.rerun,
            "nodes": self.nodes,
        }

    @classmethod
    def build(
        cls,
        target: Mapping[str, Any],
        requirement_ids: Iterable[str],
        records: Iterable[TestRecord],
        *,
        not_run_reasons: Mapping[str, str] | None = None,
        urls: Sequence[str] = (),
        duration_s: float = 0.0,
        exercised: Mapping[str, Iterable[str]] | None = None,
        rerun: str = "",
        nodes: Mapping[str, dict[str, Any]] | None = None,
    ) -> ConformanceResult:
        """`not_run_reasons` gives why an id was not checked at all (e.g. profile not declared)."""
        by_id: dict[str, list[TestRecord]] = {}
        for record in records:
            by_id.setdefault(record.requirement, []).append(record)
        wanted = set(requirement_ids)
        ordered = [rid for rid in REQUIREMENTS if rid in wanted]
        result = cls(
            target, spec_version=SPEC_VERSION, urls=tuple(urls), duration_s=duration_s, rerun=rerun
        )
        result.exercised = {rid: frozenset(p) for rid, p in (exercised or {}).items()}
        result.nodes = dict(nodes or {})
        for rid in ordered:
            requirement = REQUIREMENTS[rid]
            tests = tuple(by_id.get(rid, ()))
            verdict, reason = compute_verdict(requirement, tests)
            if verdict is Verdict.NOT_RUN and not_run_reasons and rid in not_run_reasons:
                reason = not_run_reasons[rid]
            result.requirements[rid] = RequirementResult(requirement, verdict, tests, reason)
        return result


def summarise(verdicts: Iterable[Verdict]) -> dict[str, int]:
    counts = {v.value: 0 for v in (Verdict.PASS, Verdict.FAIL, Verdict.NON_STRICT)}
    counts.update({Verdict.NOT_RUN.value: 0, Verdict.INFO.value: 0})
    for verdict in verdicts:
        counts[verdict.value] += 1
    return counts
