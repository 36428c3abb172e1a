"""`crm-harness report` exit codes: 0 report only, 1 failed gate, 2 usage error in one line."""

from __future__ import annotations

from pathlib import Path

import pytest
from reporting_synth import standard_spec, write_run

from harness.cli import main
from harness.reporting import GATES


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return write_run(tmp_path / "run", standard_spec())


def test_report_exit_codes(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """RED-1: a failing gate exits 1 and names the gate; without --slo the report exits 0."""
    assert main(["report", str(run_dir)]) == 0
    slo = tmp_path / "slo.toml"
    slo.write_text("redaction_leaks = 0\np99_fanout_ms = 1000\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["report", str(run_dir), "--slo", str(slo)]) == 1
    captured = capsys.readouterr()
    assert "gate failed: redaction_leaks" in captured.err
    assert "p99_fanout_ms" not in captured.err


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "does not exist"),
        ("p99_fanout_ms = [", "not valid TOML"),
        ("p99_fanout = 100", "unknown SLO gate"),
        ("p99_fanout_ms = '100'", "needs a number"),
    ],
)
def test_slo_usage_errors_exit_2_in_one_line(
    run_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content: str | None,
    expected: str,
) -> None:
    """Missing file, bad TOML, mistyped gate and wrong value type: exit 2, one line."""
    slo = tmp_path / "slo.toml"
    if content is not None:
        slo.write_text(content + "\n", encoding="utf-8")
    assert main(["report", str(run_dir), "--slo", str(slo)]) == 2
    assert expected in one_line_error(capsys)


def test_report_on_a_missing_directory_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A run directory that is not one is a usage error."""
    assert main(["report", str(tmp_path / "nope")]) == 2
    assert "does not exist" in one_line_error(capsys)


def test_report_without_dir_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """No DIR: exit 2 in one line; argparse's own errors too."""
    assert main(["report"]) == 2
    assert "DIR" in one_line_error(capsys)
    with pytest.raises(SystemExit) as exited:
        main(["report", "--no-such-option"])
    assert exited.value.code == 2
    assert "--no-such-option" in one_line_error(capsys)


def test_list_gates_names_every_gate(capsys: pytest.CaptureFixture[str]) -> None:
    """--list-gates prints the registry, one gate a line."""
    assert main(["report", "--list-gates"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == list(GATES)


def test_junit_path_is_relative_to_the_working_directory(
    run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--junit out/slo.xml lands where the user stands, not inside the run directory."""
    monkeypatch.chdir(tmp_path)
    assert main(["report", str(run_dir), "--junit", "out/slo.xml"]) == 0
    assert (tmp_path / "out" / "slo.xml").is_file()
    assert not (run_dir / "out").exists()
