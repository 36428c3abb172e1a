"""The suite against the bundled reference server: a subset by requirement id read back
programmatically, the fail path (exit 1), marker validation, and the full core run.

The full run (`crm-harness conform` with no --url) asserts every core id passes: the
reference server implements the whole spec.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.cli import main
from harness.client import TargetConnection, TokenFactory
from harness.conformance import Verdict, run
from harness.spec import Profile, requirements_for
from reference_server.launcher import RunningServer, start_server

SECRET = secrets.token_hex(16)
# Nested pytest runs must not re-arm pytest-timeout's alarm of the outer test.
NESTED = ["-p", "no:timeout"]


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    with start_server(jwt_secret=SECRET) as running:
        yield running


def test_subset_by_requirement_id(server: RunningServer, tmp_path: Path) -> None:
    """EVT-1, RED-1, STR-4 checked alone: verdicts come back as data, only those ids."""
    connection = TargetConnection((server.url,), TokenFactory(SECRET))
    outcome = run(connection, requirement_ids=["EVT-1", "RED-1", "STR-4"],
                  report_dir=tmp_path, extra_pytest_args=NESTED)  # fmt: skip
    assert outcome.errors == []
    assert outcome.verdicts() == {"EVT-1": Verdict.PASS, "RED-1": Verdict.PASS,
                                  "STR-4": Verdict.PASS}  # fmt: skip
    report = json.loads((tmp_path / "report.json").read_text())
    assert set(report["requirements"]) == {"EVT-1", "RED-1", "STR-4"}


def test_wrong_secret_fails_musts_and_exits_1(
    server: RunningServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """AUTH-1 seen from a suite whose tokens the target rejects: fail, exit 1; INF-3 (no auth)
    still passes."""
    code = main(["conform", "--url", server.url, "--jwt-secret", "not-" + SECRET,
                 "--req", "AUTH-1,INF-3"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 1, out
    assert "MUST failed: AUTH-1" in out and "pass 1" in out


def test_keyword_and_profile_select_checks(
    server: RunningServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """INF-3 alone by -k; --profile metrics reports only MET-1."""
    code = main(["conform", "--url", server.url, "--jwt-secret", SECRET, "-k", "test_healthz",
                 "--report", str(tmp_path)])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0 and "pass 1 ·" in out, out
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["requirements"]["INF-3"]["verdict"] == "pass"
    assert report["requirements"]["EVT-1"]["verdict"] == "not-run"
    outcome = run(
        TargetConnection((server.url,), TokenFactory(SECRET)),
        profiles=["metrics"],
        extra_pytest_args=NESTED,
    )
    assert outcome.verdicts() == {"MET-1": Verdict.PASS}


def test_unknown_requirement_marker_is_an_error(server: RunningServer, tmp_path: Path) -> None:
    """A check declaring an id the spec does not have stops the run (usage error)."""
    check = tmp_path / "test_bogus_marker.py"
    check.write_text(
        textwrap.dedent("""
        import pytest

        @pytest.mark.req("EVT-404")
        def test_bogus():
            pass
    """)
    )
    done = subprocess.run(
        [sys.executable, "-m", "pytest", str(check), "-p", "no:cacheprovider",
         "--crm-url", server.url, "--crm-jwt-secret", SECRET, "--rootdir", str(tmp_path)],
        capture_output=True, text=True, timeout=110, check=False,  # under the 120 s test timeout
    )  # fmt: skip
    assert done.returncode == 4, done.stdout + done.stderr
    assert "unknown requirement id" in done.stderr + done.stdout


OUTCOMES_MODULE = """
import pytest
from harness.conformance._model import Outcome
from harness.conformance.failures import CheckFailure
from harness.conformance.outcomes import note, not_run

@pytest.mark.req("EVT-1", "EVT-2")
def test_blames_one_id():
    raise CheckFailure("copies", "two copies", expected=1, observed=2, requirement="EVT-2")

@pytest.mark.req("TRN-2")
def test_should_missed(request):
    note(request.node, "TRN-2", Outcome.NON_STRICT, "no polling")

@pytest.mark.req("EVT-6")
def test_measured(request):
    note(request.node, "EVT-6", Outcome.INFO, "812 bytes")

@pytest.mark.req("STR-3")
def test_cannot_run():
    not_run("a 300 s window")

@pytest.mark.req("INF-3")
def test_plain_assert():
    assert 1 == 2, "plain"
"""


def test_outcomes_become_verdicts(server: RunningServer, tmp_path: Path) -> None:
    """A failure narrowed to one id fails it and leaves the test's other ids not-run; notes
    give non-strict and info; not_run gives its reason; a plain assert still fails."""
    check = tmp_path / "test_outcome_kinds.py"
    check.write_text(OUTCOMES_MODULE)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", str(check), "-p", "no:cacheprovider", "-q",
         "--crm-url", server.url, "--crm-jwt-secret", SECRET, "--rootdir", str(tmp_path),
         "--crm-report", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=110, check=False,  # under the 120 s test timeout
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    reqs = json.loads((tmp_path / "out" / "report.json").read_text())["requirements"]
    verdicts = {rid: reqs[rid]["verdict"] for rid in ("EVT-1", "EVT-2", "TRN-2", "EVT-6",
                                                       "STR-3", "INF-3")}  # fmt: skip
    assert verdicts == {"EVT-1": "not-run", "EVT-2": "fail", "TRN-2": "non-strict",
                        "EVT-6": "info", "STR-3": "not-run", "INF-3": "fail"}  # fmt: skip
    assert reqs["EVT-2"]["tests"][0]["failure"]["observed"] == 2
    assert "not reached" in reqs["EVT-1"]["reason"]
    assert reqs["STR-3"]["reason"] == "a 300 s window"
    assert "plain" in reqs["INF-3"]["tests"][0]["message"]


def test_plugin_is_inert_without_url() -> None:
    """Without --crm-url the checks collect but report not-run; nothing else changes."""
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--pyargs", "harness.conformance.checks", "-q",
         "-p", "no:cacheprovider", "-rs", "-k", "test_healthz or test_info_document_shape"],
        capture_output=True, text=True, timeout=110, check=False,  # under the 120 s test timeout
    )  # fmt: skip
    assert done.returncode == 0, done.stdout
    assert "2 skipped" in done.stdout and "no target" in done.stdout


@pytest.mark.slow
@pytest.mark.timeout(400)  # about a minute alone; far longer while other suites share the cores
def test_full_core_run_passes_every_id(tmp_path: Path) -> None:
    """Every core (and metrics) id passes against the bundled reference server, CLU-2 included
    (crash and restart); reports are written."""
    report, junit = tmp_path / "report", tmp_path / "junit.xml"
    done = subprocess.run(
        [sys.executable, "-m", "harness", "conform", "--profile", "core,metrics",
         "--report", str(report), "--junit", str(junit)],
        capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    data = json.loads((report / "report.json").read_text())
    core = {r.id for r in requirements_for(Profile.CORE, Profile.METRICS)}
    verdicts = {rid: entry["verdict"] for rid, entry in data["requirements"].items()}
    assert core <= set(verdicts)
    # LIM-6 (a SHOULD): the suite cannot overload a node without a small connection budget.
    assert {rid: verdicts[rid] for rid in core if verdicts[rid] != "pass"} == {"LIM-6": "not-run"}
    assert (report / "report.html").exists() and junit.exists()
    # Every (requirement × path) cell of the selected ids is exercised (issue 17), but the two
    # driven by checks of profiles not selected here: EVT-4's `ai` (ai), RED-1's feed (collab).
    missed = {(rid, path) for rid, cells in data["coverage"].items()
              for path, hit in cells.items() if not hit}  # fmt: skip
    assert missed == {("EVT-4", "ai"), ("RED-1", "activity")}, missed
    assert "Paths exercised" in (report / "report.html").read_text()
