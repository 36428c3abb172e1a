"""Failures are data: what a check expected, what it observed, and how bad that is.

A check raises `CheckFailure` (an AssertionError, so pytest reports it as a failure) through
the `expect*` helpers; the plugin lifts its fields into the report. Modelled on
schemathesis' `core/failures.py`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = [
    "CheckFailure",
    "FailureRecord",
    "Severity",
    "expect",
    "expect_equal",
    "expect_in",
]

_UNSET: Any = object()


class Severity(StrEnum):
    """MUST broken → `fail`; SHOULD missed → `non-strict` (the verdict follows the level)."""

    MUST = "MUST"
    SHOULD = "SHOULD"


@dataclass(frozen=True, slots=True)
class FailureRecord:
    """The JSON-ready form of a failure, as it goes into reports."""

    title: str
    message: str
    severity: Severity = Severity.MUST
    requirement: str | None = None
    expected: Any = None
    observed: Any = None
    # The last frames the check's clients sent and received (harness.client.Frame.to_json),
    # tokens elided: the evidence a report shows under the failure.
    frames: tuple[Mapping[str, Any], ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "message": self.message,
            "severity": self.severity.value,
            "requirement": self.requirement,
            "expected": _jsonable(self.expected),
            "observed": _jsonable(self.observed),
            "frames": [dict(frame) for frame in self.frames],
        }


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)
    return value


@dataclass(eq=False)
class CheckFailure(AssertionError):
    """A requirement a check found broken.

    `requirement` narrows the failure to one of the check's ids (the others then count as
    not reached); None blames every id the check declares.
    """

    title: str
    message: str = ""
    expected: Any = None
    observed: Any = None
    requirement: str | None = None
    severity: Severity = Severity.MUST
    context: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        AssertionError.__init__(self, self.__str__())

    def __str__(self) -> str:
        where = f"[{self.requirement}] " if self.requirement else ""
        text = f"{where}{self.title}"
        if self.message:
            text += f": {self.message}"
        if self.expected is not None or self.observed is not None:
            text += f"\n  expected: {_short(self.expected)}\n  observed: {_short(self.observed)}"
        return text

    def record(self) -> FailureRecord:
        return FailureRecord(
            self.title, self.message, self.severity, self.requirement, self.expected, self.observed
        )


def _short(value: Any, limit: int = 600) -> str:
    text = json.dumps(_jsonable(value), ensure_ascii=False, default=repr)
    return text if len(text) <= limit else text[:limit] + "…"


def expect(
    condition: object,
    title: str,
    message: str = "",
    *,
    expected: Any = None,
    observed: Any = None,
    requirement: str | None = None,
) -> None:
    if not condition:
        raise CheckFailure(title, message, expected, observed, requirement)


def expect_equal(
    observed: Any,
    expected: Any,
    title: str,
    message: str = "",
    *,
    requirement: str | None = None,
) -> None:
    expect(
        observed == expected,
        title,
        message,
        expected=expected,
        observed=observed,
        requirement=requirement,
    )


def expect_in(
    observed: Any,
    allowed: Any,
    title: str,
    message: str = "",
    *,
    requirement: str | None = None,
) -> None:
    expect(
        observed in allowed,
        title,
        message,
        expected={"one of": list(allowed)},
        observed=observed,
        requirement=requirement,
    )
