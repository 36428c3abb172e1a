"""summary.json and the reports keep their shape and figures (see run_fixtures.py).

Recorded runs of every scenario go through the engine's analysis and the report writers;
the outputs must equal what the code wrote when the runs were recorded: same keys, same JSON
types, same values. The figures of a fixed run directory do not depend on the machine.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from run_fixtures import (
    FIXTURE_SLO,
    FIXTURES,
    copy_run,
    differences,
    json_shape,
    run_names,
)

from harness.load import summarize
from harness.reporting import parse_slo, write_reports
from harness.rundir import RunSummary

RUNS = run_names()


def test_every_scenario_is_recorded() -> None:
    assert RUNS == ["flood", "reconnect_storm", "refetch_baseline", "team_sync"]


@pytest.mark.parametrize("name", RUNS)
def test_engine_summary_is_unchanged(name: str) -> None:
    """`crm-harness load`'s summary.json: what `summarize` makes of the recorded CSVs."""
    expected = json.loads((FIXTURES / name / "summary.json").read_text())
    actual = json.loads(json.dumps(summarize(FIXTURES / name)))
    assert json.dumps(json_shape(actual)) == json.dumps(json_shape(expected))  # keys in order
    assert differences(expected, actual) == []


@pytest.mark.parametrize("name", RUNS)
def test_typed_summary_holds_every_key(name: str) -> None:
    """`RunSummary` reads a whole summary.json back and writes it out the same: every key
    of the file is a typed field, of the file's JSON type."""
    recorded = json.loads((FIXTURES / name / "summary.json").read_text())
    assert differences(recorded, RunSummary.from_json(recorded).to_json()) == []


@pytest.mark.parametrize("name", RUNS)
def test_report_outputs_are_unchanged(name: str, tmp_path: Path) -> None:
    """`crm-harness report`'s summary.json (engine figures + breakdowns + verdict),
    summary.md and junit.xml of the recorded run, with gates of every kind."""
    run_dir = copy_run(name, tmp_path)
    result = write_reports(run_dir, parse_slo(FIXTURE_SLO, "fixture SLO"))
    expected_dir = FIXTURES / name / "expected"
    expected = json.loads((expected_dir / "summary.json").read_text())
    actual = json.loads((run_dir / "summary.json").read_text())
    assert json.dumps(json_shape(actual)) == json.dumps(json_shape(expected))
    assert differences(expected, actual) == []
    for text in ("summary.md", "junit.xml"):
        assert (run_dir / text).read_text() == (expected_dir / text).read_text(), text
    assert set(result.outputs) == {"json", "markdown", "html", "junit"}
    assert (run_dir / "report.html").stat().st_size > 0


def test_shape_guard_sees_a_changed_type() -> None:
    """The guard itself: an int turned float, a key renamed, a value moved are all caught."""
    expected = {"users": 10, "loss": {"live": 0, "final": 0}, "p": [1.5]}
    assert differences(expected, {"users": 10.0, "loss": {"live": 0, "final": 0}, "p": [1.5]})
    assert differences(expected, {"users": 10, "loss": {"live": 0, "lost": 0}, "p": [1.5]})
    assert differences(expected, {"users": 10, "loss": {"live": 0, "final": 0}, "p": [1.6]})
    assert not differences(expected, {"users": 10, "loss": {"live": 0, "final": 0},
                                      "p": [1.5 + 1e-12]})  # fmt: skip
