"""Issue 15: a failing check's detail holds the frames it sent and received (tokens elided)
and the command that reruns just that id, and that command really does (MUT-1 broken)."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fault_verdicts import FaultyServer

_JWT = re.compile(r"eyJ[A-Za-z0-9_-]+\.")


def _conform(argv: list[str], secret: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "JWT_SECRET": secret}
    return subprocess.run([sys.executable, "-m", "harness", "conform", *argv], env=env,
                          capture_output=True, text=True, timeout=300, check=False)  # fmt: skip


def _failure(report: dict[str, Any], rid: str) -> dict[str, Any]:
    tests = report["requirements"][rid]["tests"]
    failure: dict[str, Any] = next(t["failure"] for t in tests if "failure" in t)
    return failure


@pytest.mark.slow
def test_failure_detail_has_frames_and_a_rerun_that_reruns_only_that_id(
    core_fault_target: FaultyServer, tmp_path: Path
) -> None:
    """MUT-1: the failure carries the mutate frames (no token anywhere in the reports), and
    the rerun command, run as printed, checks MUT-1 alone and fails it again."""
    server = core_fault_target
    server.set_faults(["MUT-1"])
    try:
        first = tmp_path / "first"
        done = _conform(["--url", server.url, "--req", "MUT-1", "--req", "REC-6",
                         "--fuzz-seconds", "0", "--report", str(first)], server.secret)  # fmt: skip
        assert done.returncode == 1, done.stderr
        assert done.stdout.splitlines()[0] == f"crm-harness conform: target {server.url}"
        report = json.loads((first / "report.json").read_text())
        assert report["requirements"]["REC-6"]["verdict"] == "pass"
        failure = _failure(report, "MUT-1")
        frames = failure["frames"]
        sent = [f["text"] for f in frames if f["direction"] == "sent"]
        assert any('"mutate"' in text and '"delete"' in text for text in sent), sent
        assert any(f["direction"] == "received" for f in frames)
        for name in ("report.json", "report.html"):
            page = (first / name).read_text()
            assert not _JWT.search(page) and server.secret not in page, name
        assert '"authorization": "<elided>"' in json.dumps(frames) or any(
            '{"token":"<elided>"}' in text for text in sent
        )
        rerun = report["requirements"]["MUT-1"]["rerun"]
        assert rerun.startswith("crm-harness conform --url ") and rerun.endswith(" --req MUT-1")
        html = (first / "report.html").read_text()
        assert rerun in html and 'href="#detail-MUT-1"' in html

        again = tmp_path / "again"
        words = [*shlex.split(rerun)[2:], "--report", str(again)]
        assert _conform(words, server.secret).returncode == 1
        rerun_report = json.loads((again / "report.json").read_text())
        assert list(rerun_report["requirements"]) == ["MUT-1"]
        assert rerun_report["requirements"]["MUT-1"]["verdict"] == "fail"
    finally:
        server.set_faults([])
