"""Verdict logic: how test outcomes fold into one verdict per requirement id (Autobahn style).

EVT-6 (a SHOULD) and EVT-1 (a MUST) stand in for the two levels.
"""

from __future__ import annotations

import pytest

from harness.conformance._model import (
    ConformanceResult,
    Outcome,
    TestRecord,
    Verdict,
    compute_verdict,
)
from harness.conformance.failures import FailureRecord
from harness.spec import REQUIREMENTS, Profile, requirements_for

MUST = REQUIREMENTS["EVT-1"]
SHOULD = REQUIREMENTS["EVT-6"]


def _record(outcome: Outcome, rid: str = "EVT-1", message: str = "") -> TestRecord:
    return TestRecord("test_x", rid, outcome, message, 0.1)


def test_no_checks_is_not_run_with_a_reason() -> None:
    """A requirement nobody checked is not-run, never a silent pass."""
    assert compute_verdict(MUST, []) == (Verdict.NOT_RUN, "no check of this requirement was run")
    skipped = [_record(Outcome.NOT_RUN, message="needs 2 nodes")]
    assert compute_verdict(MUST, skipped) == (Verdict.NOT_RUN, "needs 2 nodes")


def test_failure_of_a_must_fails_and_of_a_should_is_non_strict() -> None:
    """EVT-1 (MUST) fails; EVT-6 (SHOULD) is only non-strict."""
    runs = [_record(Outcome.PASSED), _record(Outcome.FAILED, message="leak")]
    assert compute_verdict(MUST, runs) == (Verdict.FAIL, "leak")
    assert compute_verdict(SHOULD, runs)[0] is Verdict.NON_STRICT


def test_pass_needs_one_run_and_info_alone_is_info() -> None:
    """Passed beats not-run; a non-strict note wins over pass; info alone is info."""
    assert compute_verdict(MUST, [_record(Outcome.PASSED), _record(Outcome.NOT_RUN)])[0] is (
        Verdict.PASS
    )
    noted = [_record(Outcome.PASSED), _record(Outcome.NON_STRICT, message="no polling")]
    assert compute_verdict(MUST, noted) == (Verdict.NON_STRICT, "no polling")
    assert compute_verdict(MUST, [_record(Outcome.INFO, message="42 bytes")]) == (
        Verdict.INFO,
        "42 bytes",
    )


def test_result_lists_every_selected_id_in_spec_order() -> None:
    """Every id of the selected profiles is present; untested ones are not-run."""
    ids = [r.id for r in requirements_for(Profile.CORE, Profile.METRICS)]
    failure = FailureRecord("leak", "team event reached another broker", expected=[], observed=[1])
    records = [
        TestRecord("t1", "EVT-1", Outcome.FAILED, "leak", 0.2, failure),
        TestRecord("t2", "RED-1", Outcome.PASSED),
    ]
    result = ConformanceResult.build({"server": "s"}, reversed(ids), records,
                                     not_run_reasons={"MET-1": "no metrics"})  # fmt: skip
    assert list(result.requirements) == ids
    assert result.verdict("EVT-1") is Verdict.FAIL and result.must_failed
    assert result.verdict("RED-1") is Verdict.PASS
    assert result.requirements["MET-1"].reason == "no metrics"
    summary = result.summary
    assert summary == {"pass": 1, "fail": 1, "non-strict": 0, "not-run": len(ids) - 2, "info": 0}


def test_check_failures_carry_expected_and_observed() -> None:
    """Failures are data: title, message, severity, the id they blame, both payloads."""
    from harness.conformance.failures import CheckFailure, Severity, expect_equal, expect_in

    with pytest.raises(CheckFailure) as caught:
        expect_equal({"a": 1}, {"a": 2}, "payload differs", "why", requirement="EVT-3")
    failure = caught.value
    record = failure.record()
    assert (record.title, record.message, record.requirement) == ("payload differs", "why", "EVT-3")
    assert (record.expected, record.observed, record.severity) == (
        {"a": 2},
        {"a": 1},
        Severity.MUST,
    )
    assert "expected" in str(failure) and "[EVT-3]" in str(failure)
    odd = FailureRecord("t", "m", observed={1, 2}).to_json()
    assert odd["observed"] == repr({1, 2})  # not JSON: kept readable
    expect_in("b", ("a", "b"), "in")  # passes silently
