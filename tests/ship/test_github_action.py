"""action.yml, the composite GitHub Action: its metadata, and its steps run as a runner runs
them (tests/ship/action_runner.py) against a running reference server.

The install step really installs lock/harness.txt (hashes checked, no server packages) and
the project into a fresh venv, once for the module; the gate step runs conform and load with
that venv against the fault-switchable reference server (tests/faults): green, an SLO file
with an impossible gate, a broken MUST (REC-6), a bad input. Each checks the exit code, the
step's outputs, the job summary's Markdown and the verdict step's exit status.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from action_runner import ActionRun, load_action
from deploy_commands import ROOT

from harness.cli._action_inputs import INPUTS, env_name
from tests.packaging.fresh_install import copy_sources

sys.path.insert(0, str(ROOT / "tests" / "faults"))
from fault_verdicts import FaultyServer, faulty_server

pytestmark = pytest.mark.slow

ACTION = ROOT / "action.yml"
# What the action needs of its repository (the rest of the checkout is not read).
ACTION_FILES = ("action.yml", "pyproject.toml", "README.md", "slo.example.toml", "lock",
                "harness", "reference_server", "scenarios")  # fmt: skip
# Small and quick: a few users acting about three times a second for a few seconds.
SMALL_LOAD = {"users": "6", "duration": "6s",
              "load-args": "--spawn-rate 6 --think-time 0.3 --users-per-team 3"}  # fmt: skip
GENEROUS_SLO = "p99_e2e_ms = 60000\nloss_final = 0\nisolation_leaks = 0\nduplicates = 0\n"
IMPOSSIBLE_SLO = "p99_e2e_ms = 0.001\nloss_final = 0\n"
TABLE_HEAD = re.compile(r"^\| step \| verdict \| detail \|\n\|---\|---\|---\|$", re.M)


@pytest.fixture(scope="module")
def action_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The action as a runner checks it out (`github.action_path`): the files it reads."""
    return copy_sources(ACTION_FILES, tmp_path_factory.mktemp("action"))


@pytest.fixture(scope="module")
def runner_temp(action_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`runner.temp` after the action's install step ran in it: the venv `crm-harness`."""
    temp = tmp_path_factory.mktemp("runner-temp")
    run = ActionRun(action_dir, tmp_path_factory.mktemp("ws"), temp, {"url": "http://unused"})
    done = run.run_step("Install the harness (pinned, without the server)", timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    python = temp / "crm-harness" / "bin" / "python"
    probe = (
        "import importlib.util as u; print([m for m in ('fastapi', 'uvicorn') if u.find_spec(m)])"
    )
    found = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, cwd=temp)
    assert found.stdout.strip() == "[]", "the action installs the harness without the server"
    return temp


@pytest.fixture(scope="module")
def server() -> Iterator[FaultyServer]:
    with faulty_server() as running:
        yield running


@dataclass(frozen=True, slots=True)
class GateRun:
    outputs: dict[str, str]  # the gate step's
    summary: str  # $GITHUB_STEP_SUMMARY
    log: str  # the gate step's output
    verdict: int  # the exit status of the last step: the job's


def _target(server: FaultyServer, **inputs: str) -> dict[str, str]:
    return {"url": server.url, "jwt-secret": server.secret, **inputs}


def _run(action_dir: Path, runner_temp: Path, workspace: Path, inputs: dict[str, str]) -> GateRun:
    run = ActionRun(action_dir, workspace, runner_temp, inputs)
    run.summary.unlink(missing_ok=True)
    gate = run.run_step("gate")
    assert gate.returncode == 0, "the gate step never fails itself: " + gate.stderr[-2000:]
    verdict = run.run_step("Verdict")
    summary = run.summary.read_text()
    return GateRun(run.outputs["gate"], summary, gate.stdout + gate.stderr, verdict.returncode)


def test_action_yml_is_a_composite_action_mapping_every_input() -> None:
    action = load_action(ACTION)
    assert action["name"] and action["description"]
    assert action["runs"]["using"] == "composite"
    assert list(action["inputs"]) == list(INPUTS)
    assert all(spec.get("description") for spec in action["inputs"].values())
    assert action["inputs"]["url"]["required"] is True
    steps = action["runs"]["steps"]
    for step in steps:
        assert ("run" in step) != ("uses" in step), step
        if "run" in step:
            assert step["shell"] == "bash", step
        else:
            assert re.fullmatch(r"actions/[\w-]+@v\d+", step["uses"]), step["uses"]
    [gate] = [s for s in steps if s.get("id") == "gate"]
    expected = {env_name(name): f"${{{{ inputs.{name} }}}}" for name in INPUTS}
    mapped = {k: v for k, v in gate["env"].items() if k.startswith("INPUT_")}
    assert mapped == expected
    [upload] = [s for s in steps if s.get("uses", "").startswith("actions/upload-artifact@")]
    assert upload["with"]["name"] == "${{ inputs.artifact-name }}"
    assert "steps.gate.outputs.report-dir" in upload["with"]["path"]
    # the upload runs before the step that fails the job, so a red run keeps its reports
    assert steps.index(upload) < steps.index(next(s for s in steps if s.get("name") == "Verdict"))
    for name, output in action["outputs"].items():
        assert output["value"] == f"${{{{ steps.gate.outputs.{name} }}}}"


@pytest.mark.timeout(1200)
def test_green_server_passes_and_the_summary_is_a_markdown_table(
    action_dir: Path, runner_temp: Path, server: FaultyServer, tmp_path: Path
) -> None:
    (tmp_path / "ci").mkdir()
    (tmp_path / "ci" / "slo.toml").write_text(GENEROUS_SLO)
    inputs = _target(server, slo="ci/slo.toml", **SMALL_LOAD)
    run = _run(action_dir, runner_temp, tmp_path, {**inputs, "conform-args": "--req REC-6,EVT-1"})
    assert run.outputs["exit-code"] == "0", run.log[-3000:]
    assert run.outputs["conformance"] == "pass"
    assert run.outputs["load"] == "pass"
    assert run.verdict == 0
    summary = run.summary
    assert summary.startswith("## ✅ crm-harness: passed\n")
    assert TABLE_HEAD.search(summary), summary
    assert "| Conformance | ✅ pass | 2 pass · 0 fail" in summary
    assert "| Load (6 users, 6s, team_sync) | ✅ pass | 4/4 gates met |" in summary
    assert f"Gates from `{tmp_path / 'ci' / 'slo.toml'}`" in summary  # the caller's SLO file
    assert "| ✅ | `p99_e2e_ms <= 60000 ms` |" in summary
    reports = tmp_path / "crm-reports"
    assert run.outputs["report-dir"] == str(reports)
    for name in ("conformance/report.json", "conformance/junit.xml", "load/summary.json",
                 "load/report.html"):  # fmt: skip
        assert (reports / name).is_file(), name
    # the runner hides the secret from the log from its `::add-mask::` line on
    mask = f"::add-mask::{server.secret}\n"
    assert run.log.startswith(mask) and server.secret not in run.log.removeprefix(mask)


@pytest.mark.timeout(1200)
def test_an_impossible_gate_fails_the_job(
    action_dir: Path, runner_temp: Path, server: FaultyServer, tmp_path: Path
) -> None:
    (tmp_path / "slo.toml").write_text(IMPOSSIBLE_SLO)
    inputs = _target(server, slo="slo.toml", **SMALL_LOAD)
    run = _run(action_dir, runner_temp, tmp_path, {**inputs, "conform-args": "--req REC-6"})
    gate = run.outputs
    assert (gate["exit-code"], gate["conformance"], gate["load"]) == ("1", "pass", "fail")
    assert run.verdict == 1
    summary = run.summary
    assert summary.startswith("## ❌ crm-harness: failed\n")
    assert "| ❌ fail | 1/2 gates met — failed: `p99_e2e_ms` |" in summary
    assert "| ❌ | `p99_e2e_ms <= 0.001 ms` |" in summary
    assert "::error title=SLO gate failed: p99_e2e_ms::" in run.log


@pytest.mark.timeout(1200)
def test_a_broken_must_fails_the_job(
    action_dir: Path, runner_temp: Path, server: FaultyServer, tmp_path: Path
) -> None:
    server.set_faults(["REC-6"])
    try:
        inputs = _target(server, load="false")
        run = _run(
            action_dir, runner_temp, tmp_path, {**inputs, "conform-args": "--req REC-6,EVT-1"}
        )
    finally:
        server.set_faults([])
    gate = run.outputs
    assert (gate["exit-code"], gate["conformance"], gate["load"]) == ("1", "fail", "skipped")
    assert run.verdict == 1
    summary = run.summary
    assert "| Conformance | ❌ fail | 1 pass · 1 fail" in summary
    assert "MUST failed: `REC-6`" in summary
    # what the check saw (tests/faults: DELETE answers 200), and how to rerun just that id
    assert re.search(r"^\| `REC-6` \| .+ \| .*expected 204, observed 200 \|$", summary, re.M)
    assert re.search(r"^crm-harness conform --url \S+ .*--req REC-6$", summary, re.M), summary
    assert "| Load | ➖ skipped | not run (input load: false) |" in summary
    assert "::error title=MUST failed: REC-6::" in run.log


def test_a_bad_input_fails_before_anything_runs(
    action_dir: Path, runner_temp: Path, tmp_path: Path
) -> None:
    inputs = {"url": "http://127.0.0.1:9", "jwt-secret": "s", "slo": "no/such.toml"}
    run = _run(action_dir, runner_temp, tmp_path, inputs)
    assert run.outputs["exit-code"] == "2"
    assert run.verdict == 2
    assert "input slo: no file no/such.toml" in run.summary
    assert "Traceback" not in run.log
    assert not (tmp_path / "crm-reports").exists()
