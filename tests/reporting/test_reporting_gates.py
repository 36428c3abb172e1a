"""SLO gate registry: parsing, typing and each comparison."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import UsageError
from harness.reporting import GATES, Comparison, GateStatus, evaluate, load_slo, parse_slo
from harness.rundir import RunSummary, summarize

RUN_FIXTURES = Path(__file__).resolve().parent.parent / "run_model" / "fixtures"

SUMMARY = RunSummary.from_json(
    {
        "users": 200,
        "latency_ms": {
            "e2e": {"p50": 40.0, "p95": 90.0, "p99": 120.0, "max": 300.0},
            "fanout": {"p50": 5.0, "p95": 20.0, "p99": 60.0, "max": 80.0},
        },
        "loss": {"live": 3, "final": 0},
        "duplicates": 0,
        "out_of_order": 2,
        "isolation_leaks": 0,
        "redaction_leaks": 1,
        "connect_errors": 4,
        "bytes_per_update": {"median": 512.0},
        "deliveries_per_s": 150.0,
        "generator": {"cpu_percent_max": 95.0, "saturated": True},
    }
)


def outcome(name: str, threshold: object) -> tuple[GateStatus, object]:
    verdict = evaluate(SUMMARY, parse_slo({name: threshold}))
    (only,) = verdict.outcomes
    return only.status, only.observed


def test_at_most_passes_at_and_below_the_limit_and_fails_above() -> None:
    """STR-5, EVT-1: a latency/count gate is `observed <= threshold`."""
    assert outcome("p99_e2e_ms", 120) == (GateStatus.PASS, 120.0)
    assert outcome("p99_e2e_ms", 119.9)[0] is GateStatus.FAIL
    assert outcome("p99_fanout_ms", 100)[0] is GateStatus.PASS
    assert outcome("redaction_leaks", 0) == (GateStatus.FAIL, 1.0)
    assert outcome("loss_final", 0)[0] is GateStatus.PASS
    assert outcome("loss_live", 2)[0] is GateStatus.FAIL


def test_ratio_gate_divides_connect_errors_by_users() -> None:
    """Connect error ratio is connect_errors / users."""
    assert outcome("connect_error_ratio", 0.02) == (GateStatus.PASS, 4 / 200)
    assert outcome("connect_error_ratio", 0.01)[0] is GateStatus.FAIL


def test_at_least_and_boolean_comparisons() -> None:
    """A throughput floor is `>=`; generator_saturated must equal the given boolean."""
    assert outcome("min_deliveries_per_s", 150)[0] is GateStatus.PASS
    assert outcome("min_deliveries_per_s", 151)[0] is GateStatus.FAIL
    assert outcome("generator_saturated", False) == (GateStatus.FAIL, True)
    assert outcome("generator_saturated", True)[0] is GateStatus.PASS
    assert GATES["generator_saturated"].comparison is Comparison.IS


def test_a_metric_the_summary_lacks_fails_as_missing() -> None:
    """Not measured is not passed."""
    verdict = evaluate(RunSummary.from_json({"users": 3}), parse_slo({"p99_e2e_ms": 100}))
    assert not verdict.passed
    assert verdict.failures[0].status is GateStatus.MISSING
    assert verdict.failures[0].observed is None


def test_every_gate_reads_a_field_the_engine_writes() -> None:
    """Each gate of the registry finds its metric in a real run's summary.json: a gate whose
    typed field the engine never fills would always fail as missing."""
    summary = RunSummary.from_json(summarize(RUN_FIXTURES / "team_sync"))
    limits = {name: gate.check_threshold(False if gate.value_type is bool else 0)
              for name, gate in GATES.items()}  # fmt: skip
    verdict = evaluate(summary, parse_slo(limits))
    assert [o.gate for o in verdict.outcomes if o.status is GateStatus.MISSING] == []
    assert len(verdict.outcomes) == len(GATES)


def test_mistyped_gate_name_lists_valid_names_and_suggests() -> None:
    """A typo must never be a silent pass."""
    with pytest.raises(UsageError) as caught:
        parse_slo({"p99_fanout": 100}, "slo.toml")
    message = str(caught.value)
    assert "p99_fanout" in message and "did you mean p99_fanout_ms" in message
    assert all(name in message for name in GATES)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("p99_e2e_ms", "100"),
        ("p99_e2e_ms", True),
        ("p99_e2e_ms", -1),
        ("loss_final", [0]),
        ("generator_saturated", 0),
        ("generator_saturated", "false"),
        ("p99_e2e_ms", float("nan")),
    ],
)
def test_wrong_value_type_is_a_usage_error(name: str, value: object) -> None:
    """Each gate accepts only its own type."""
    with pytest.raises(UsageError, match=name):
        parse_slo({name: value})


def test_load_slo_reads_toml_and_rejects_bad_files(tmp_path: Path) -> None:
    """Missing file, bad TOML and an empty file are usage errors."""
    good = tmp_path / "slo.toml"
    good.write_text("p99_fanout_ms = 100\ngenerator_saturated = false\n", encoding="utf-8")
    slo = load_slo(good)
    assert slo.thresholds == {"p99_fanout_ms": 100.0, "generator_saturated": False}
    with pytest.raises(UsageError, match="does not exist"):
        load_slo(tmp_path / "absent.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("p99_fanout_ms = = 1\n", encoding="utf-8")
    with pytest.raises(UsageError, match="not valid TOML"):
        load_slo(bad)
    empty = tmp_path / "empty.toml"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(UsageError, match="no SLO gates"):
        load_slo(empty)


def test_example_slo_file_parses() -> None:
    """slo.example.toml at the repo root stays valid."""
    example = Path(__file__).resolve().parents[2] / "slo.example.toml"
    assert load_slo(example).thresholds


def test_docs_document_every_gate() -> None:
    """The gate table of the docs (docs/reports.md) names every registered gate."""
    page = (Path(__file__).resolve().parents[2] / "docs" / "reports.md").read_text(encoding="utf-8")
    missing = [name for name in GATES if f"`{name}`" not in page]
    assert missing == []


def test_public_api_names_resolve() -> None:
    """Every name harness.reporting exports (lazily) resolves to an object."""
    import harness.reporting as reporting

    assert all(getattr(reporting, name) is not None for name in reporting.__all__)
    with pytest.raises(AttributeError):
        reporting.no_such_name  # noqa: B018
