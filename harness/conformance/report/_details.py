"""The failing ids of a result as every report shows them: the checks that failed each one,
and the command that reruns it."""

from __future__ import annotations

from dataclasses import dataclass

from .._model import ConformanceResult, RequirementResult, TestRecord

__all__ = ["FailureDetail", "failure_details"]


@dataclass(frozen=True, slots=True)
class FailureDetail:
    """A failing (or non-strict) id with the checks that said so and how to rerun it."""

    rid: str
    requirement: RequirementResult
    tests: tuple[TestRecord, ...]
    rerun: str

    @property
    def anchor(self) -> str:
        return f"detail-{self.rid}"


def failure_details(result: ConformanceResult) -> list[FailureDetail]:
    details = []
    for rid in result.failing():
        req = result.requirements[rid]
        tests = tuple(
            t for t in req.tests if t.failure is not None or t.outcome.value == "non-strict"
        )
        details.append(FailureDetail(rid, req, tests, result.rerun_command(rid)))
    return details
