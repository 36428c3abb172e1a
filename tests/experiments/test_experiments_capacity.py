"""`capacity`: geometric ramp then bounded bisection, on fake step judges (no servers)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import TargetError, UsageError
from harness.cli import main
from harness.experiments import CapacitySearch, LoadStep, find_capacity, judge_with_slo
from harness.reporting import CapacityStep, parse_slo, write_capacity
from harness.reporting.formats import MarkdownSummary
from tests.reporting.reporting_synth import latency_spec, write_run


def threshold_judge(limit: int, tried: list[int]):  # type: ignore[no-untyped-def]
    """A server that meets the SLO up to `limit` users and fails above."""

    def judge(users: int) -> CapacityStep:
        tried.append(users)
        return CapacityStep(users, users <= limit, "", () if users <= limit else ("p99: slow",))

    return judge


def test_ramp_then_bisect_finds_the_limit_within_resolution() -> None:
    """100, 200, 400, 800, 1600 (fail), then bisection between 800 and 1600."""
    tried: list[int] = []
    result = find_capacity(threshold_judge(1234, tried), CapacitySearch(start=100, max_steps=20))
    assert tried[:5] == [100, 200, 400, 800, 1600]
    assert [s.phase for s in result.steps[:5]] == ["ramp"] * 5
    assert all(s.phase == "bisect" for s in result.steps[5:])
    assert result.capacity <= 1234 < result.first_failure  # type: ignore[operator]
    assert result.first_failure - result.capacity <= 0.1 * result.capacity  # type: ignore[operator]
    assert not result.budget_exhausted and "capacity at SLO" in result.summary


def test_step_budget_bounds_the_search() -> None:
    """max_steps caps every run, and the result says the resolution was not reached."""
    tried: list[int] = []
    result = find_capacity(threshold_judge(1234, tried), CapacitySearch(start=100, max_steps=7))
    assert len(tried) == 7 and result.budget_exhausted
    assert result.capacity <= 1234 < result.first_failure  # type: ignore[operator]


def test_passing_everything_stops_at_max_and_failing_start_reports_zero() -> None:
    """Reaching --max is 'at least max'; failing at --start is 'below start'."""
    tried: list[int] = []
    result = find_capacity(threshold_judge(10**9, tried), CapacitySearch(start=100, max_users=500))
    assert tried == [100, 200, 400, 500] and result.reached_max and result.capacity == 500
    tried.clear()
    result = find_capacity(threshold_judge(50, tried), CapacitySearch(start=100))
    assert tried == [100] and result.capacity == 0 and result.first_failure == 100
    assert "below" in result.summary


@pytest.mark.parametrize(
    "bad", [{"start": 0}, {"factor": 1.0}, {"max_users": 10, "start": 100}, {"max_steps": 0},
            {"resolution": 0.0}],
)  # fmt: skip
def test_search_parameters_are_checked(bad: dict[str, float]) -> None:
    """Bad search parameters are usage errors."""
    with pytest.raises(UsageError):
        CapacitySearch(**bad)  # type: ignore[arg-type]


def test_judge_with_slo_reads_each_step_run(tmp_path: Path) -> None:
    """The real judge: a fake runner writes runs whose latency grows with users; the SLO
    p99 <= 50 ms holds up to 500 users (latency = users / 10 ms)."""

    def run_step(step: LoadStep, parent: Path) -> Path:
        return write_run(parent / step.name, latency_spec([step.users / 10.0] * 20))

    slo = parse_slo({"p99_e2e_ms": 50})
    lines: list[str] = []
    judge = judge_with_slo(run_step, slo, tmp_path, lines.append, (MarkdownSummary(),))
    result = find_capacity(judge, CapacitySearch(start=100, max_steps=20, resolution=0.1))
    assert 455 <= result.capacity <= 500 < result.first_failure  # type: ignore[operator]
    assert "FAIL" in (tmp_path / "users-800-nodes-1" / "summary.md").read_text("utf-8")
    assert any("FAIL (p99_e2e_ms" in line for line in lines)
    first = result.steps[0]
    assert first.users == 100 and first.limit_use["p99_e2e_ms"] == pytest.approx(10 / 50)
    outputs = write_capacity(result, slo, tmp_path)
    assert f"capacity at SLO: {result.capacity} users" in outputs["markdown"].read_text()
    html = outputs["html"].read_text(encoding="utf-8")
    assert 'data-plot="limit_use"' in html and "data:image/png;base64," in html


def test_a_step_that_cannot_run_stops_the_search(tmp_path: Path) -> None:
    """An unreachable target is not 'capacity 0': the error surfaces."""

    def run_step(step: LoadStep, parent: Path) -> Path:
        raise TargetError("cannot reach http://127.0.0.1:9")

    judge = judge_with_slo(run_step, parse_slo({"loss_final": 0}), tmp_path, lambda _: None)
    with pytest.raises(TargetError):
        find_capacity(judge, CapacitySearch())


def test_capacity_cli_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Missing SLO, bad factor, --url without --jwt-secret: exit 2, one line."""
    slo = tmp_path / "slo.toml"
    slo.write_text("p99_e2e_ms = 100\n", encoding="utf-8")
    for args in (["--slo", str(tmp_path / "none.toml")], ["--slo", str(slo), "--factor", "0.5"],
                 ["--slo", str(slo), "--url", "http://127.0.0.1:9"],
                 ["--slo", str(slo), "--duration", "soon"]):  # fmt: skip
        assert main(["capacity", *args]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "Traceback" not in err[0]
