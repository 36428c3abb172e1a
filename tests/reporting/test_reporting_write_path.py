"""Issue 15, the load report: the write path (REST and `mutate` acks by op and error code,
in summary.json and gated), `low-sample` marks on figures under 100 samples, readable run
parameters, per-stream rows only where something went wrong, and the target banner."""

from __future__ import annotations

import csv
import shutil
import statistics
from pathlib import Path

import pandas as pd
import pytest

from harness import UsageError
from harness.cli import main
from harness.load import summarize
from harness.reporting import parse_slo, write_reports
from harness.reporting._tables import run_parameters
from harness.reporting.gates import evaluate
from harness.rundir import ACTIONS_COLUMNS, CHANGE_OPS, Percentiles, RunSummary, write_path

RECORDED = Path(__file__).parents[1] / "run_model" / "fixtures" / "team_sync"
EXAMPLE_SLO = Path(__file__).parents[2] / "slo.example.toml"


def test_write_path_of_a_recorded_run() -> None:
    """The figures summary.json holds equal what the recorded actions.csv says, row by row."""
    with (RECORDED / "actions.csv").open() as file:
        rest = [r for r in csv.DictReader(file)
                if r["transport"] == "rest" and r["op"] in CHANGE_OPS]  # fmt: skip
    acks = [(float(r["t_ack"]) - float(r["t_send"])) * 1000 for r in rest]
    figures = RunSummary.from_json(summarize(RECORDED)).write_path
    assert set(figures) == {"rest", "mutate"}
    assert figures["rest"].requests == len(rest) == figures["rest"].ack_ms.count
    assert figures["rest"].ok == sum(r["ok"] == "1" for r in rest)
    assert figures["rest"].ack_ms.p50 == round(statistics.median(acks), 2)
    assert figures["rest"].ack_ms.max == round(max(acks), 2)
    updates = [r for r in rest if r["op"] == "update"]
    assert figures["rest"].by_op["update"].requests == len(updates)


def _actions(rows: list[tuple[str, str, float, int, str]]) -> pd.DataFrame:
    base = dict.fromkeys(ACTIONS_COLUMNS, "")
    return pd.DataFrame([{**base, "op": op, "transport": transport, "t_send": 100.0,
                          "t_ack": 100.0 + ms / 1000, "ok": ok, "error_code": code}
                         for op, transport, ms, ok, code in rows])  # fmt: skip


def test_errors_by_code_and_latency_of_answered_requests() -> None:
    """A refusal counts as an error with its code and its ack time; a timeout as an error
    without one; non-change ops (a view) are no part of the write path."""
    found = write_path(_actions([
        ("update", "socket", 10.0, 1, ""), ("update", "socket", 20.0, 1, ""),
        ("update", "socket", 30.0, 0, "VERSION_CONFLICT"),
        ("create", "socket", 5000.0, 0, "TIMEOUT"),
        ("view", "socket", 1.0, 1, ""),
    ]))  # fmt: skip
    assert list(found) == ["mutate"]
    mutate = found["mutate"]
    assert (mutate.requests, mutate.ok) == (4, 2)
    assert mutate.errors == {"TIMEOUT": 1, "VERSION_CONFLICT": 1}
    assert mutate.ack_ms.count == 3 and mutate.ack_ms.p50 == 20.0 and mutate.ack_ms.max == 30.0
    assert mutate.error_ratio == 0.5
    assert mutate.by_op["create"].ack_ms.count == 0 and mutate.by_op["create"].ack_ms.p50 is None


def test_gates_on_the_write_path_say_low_sample() -> None:
    summary = RunSummary.from_json(summarize(RECORDED))
    slo = parse_slo({"p99_rest_ack_ms": 1000, "mutate_error_ratio": 0, "p99_e2e_ms": 1000})
    outcomes = {o.gate: o for o in evaluate(summary, slo).outcomes}
    rest = outcomes["p99_rest_ack_ms"]
    assert rest.passed and rest.low_sample and rest.samples == 22
    assert "low-sample: 22 samples" in rest.message
    assert outcomes["mutate_error_ratio"].passed and outcomes["mutate_error_ratio"].low_sample
    e2e = outcomes["p99_e2e_ms"]  # 257 samples
    assert not e2e.low_sample and "low-sample" not in e2e.message
    assert not Percentiles.of(range(100)).low_sample and Percentiles.of(range(99)).low_sample


def test_report_marks_low_sample_and_shows_only_streams_with_problems(tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(RECORDED, run, ignore=shutil.ignore_patterns("expected"))
    write_reports(run, parse_slo({"p99_mutate_ack_ms": 100}))
    page = (run / "report.html").read_text(encoding="utf-8")
    assert "LOW SAMPLE: REST ack latency (22 samples), mutate ack latency (22 samples)" in page
    assert "1/1 gates met, 1 on low-sample figures" in page
    gates = page[page.index('<table id="gates">') : page.index("</table>")]
    assert '<span class="low-sample"' in gates
    table = page[page.index('<table id="write-path">') :]
    assert "VERSION_CONFLICT" not in table and '>mutate</td><td class="text">update<' in table
    assert "None of the 15 streams had a gap" in page and '<table id="per-stream">' not in page
    run_table = page[page.index('<table id="run">') :]
    assert "['" not in run_table and "1796663" not in run_table
    assert "2026-12-07 17:05:12 UTC" in run_table


def test_run_parameters_are_readable() -> None:
    rows = dict(run_parameters({"started_at": 0, "urls": ["http://a", "http://b"], "notes": [],
                                "duration_s": 60, "config": {"x": 1}}))  # fmt: skip
    assert rows == {"started_at": "1970-01-01 00:00:00 UTC", "urls": "http://a, http://b",
                    "notes": "none", "duration_s": "60 s"}  # fmt: skip


def _stop(*_: object, **__: object) -> None:
    raise UsageError("stopped after the banner")


@pytest.mark.parametrize(
    ("argv", "target"),
    [
        (["load", "--users", "1"], "bundled reference server"),
        (["load", "--url", "http://127.0.0.1:9", "--jwt-secret", "s"], "http://127.0.0.1:9"),
        (["conform"], "bundled reference server"),
        (["conform", "--url", "http://127.0.0.1:9"], "http://127.0.0.1:9"),
        (["sweep", "--users", "1"], "bundled reference server"),
        (
            ["capacity", "--slo", str(EXAMPLE_SLO), "--url", "http://h:1", "--jwt-secret", "s"],
            "http://h:1",
        ),
    ],
)
def test_every_run_starts_with_a_banner_naming_the_target(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], argv: list[str],
    target: str,
) -> None:  # fmt: skip
    monkeypatch.setattr("harness.load.run_load", _stop)
    monkeypatch.setattr("harness.cli.conform._target", _stop)
    monkeypatch.setattr("harness.experiments.run_sweep", _stop)
    monkeypatch.setattr("harness.experiments.find_capacity", _stop)
    assert main(argv) == 2
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"crm-harness {argv[0]}: target {target}"


def test_console_summary_has_the_write_path(capsys: pytest.CaptureFixture[str]) -> None:
    """`crm-harness load` keeps what Locust's console table showed: REST and mutate acks."""
    from harness.cli.load import _print_summary

    _print_summary(RECORDED, RunSummary.from_json(summarize(RECORDED)))
    out = capsys.readouterr().out.splitlines()
    rest = next(line for line in out if line.startswith("REST "))
    assert rest.split()[:4] == ["REST", "all", "22", "22"] and "(low-sample)" in rest
    assert any(line.startswith("mutate ") for line in out)
