"""`crm-harness load --slo`: the load command writes the reports and gates on the SLO."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import main


def test_mistyped_gate_fails_before_any_load(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A typo in the SLO costs one line and exit 2, not a whole run (no server is started)."""
    slo = tmp_path / "slo.toml"
    slo.write_text("p99_fanout = 100\n", encoding="utf-8")
    report = tmp_path / "run"
    assert main(["load", "--users", "2", "--duration", "1s", "--slo", str(slo),
                 "--report", str(report)]) == 2  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "did you mean p99_fanout_ms" in err[0]
    assert not report.exists()


@pytest.mark.slow
def test_load_run_writes_reports_and_fails_its_gate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """EVT-1, STR-5: a short real run against the bundled reference server ends with
    report.html and summary.md; an unmeetable p99 exits 1 naming the gate while the
    correctness gates pass."""
    slo = tmp_path / "slo.toml"
    slo.write_text("p99_e2e_ms = 0.001\nloss_final = 0\nisolation_leaks = 0\n", encoding="utf-8")
    run_dir = tmp_path / "run"
    code = main(["load", "--users", "5", "--duration", "3s", "--spawn-rate", "5",
                 "--think-time", "1", "--report", str(run_dir), "--slo", str(slo)])  # fmt: skip
    assert code == 1
    assert "SLO gate(s) failed: p99_e2e_ms" in capsys.readouterr().err
    assert (run_dir / "report.html").is_file() and (run_dir / "junit.xml").is_file()
    gates = {g["gate"]: g["status"] for g in
             json.loads((run_dir / "summary.json").read_text())["verdict"]["gates"]}  # fmt: skip
    assert gates == {"p99_e2e_ms": "fail", "loss_final": "pass", "isolation_leaks": "pass"}
