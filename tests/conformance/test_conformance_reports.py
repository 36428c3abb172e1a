"""Report writers: report.json's exact shape, the HTML page, JUnit with one case per id."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.conformance._model import ConformanceResult, Outcome, TestRecord
from harness.conformance.failures import FailureRecord, Severity
from harness.conformance.report import write_reports
from harness.spec import SPEC_VERSION, Profile, requirements_for

INFO = {"specVersion": "1.0", "server": "demo/1", "profiles": ["core"]}


def _result() -> ConformanceResult:
    ids = [r.id for r in requirements_for(Profile.CORE)]
    leak = FailureRecord(
        "event leaked",
        "a <script> in the message must be escaped",
        Severity.MUST,
        "EVT-1",
        expected={"receivers": ["mate"]},
        observed={"receivers": ["mate", "stranger"]},
    )
    records = [
        TestRecord("test_audience", "EVT-1", Outcome.FAILED, "event leaked", 0.5, leak),
        TestRecord("test_audience", "EVT-2", Outcome.PASSED, "", 0.5),
        TestRecord("test_size", "EVT-6", Outcome.NON_STRICT, "2300 bytes", 0.1),
        TestRecord("test_restart", "CLU-2", Outcome.NOT_RUN, "needs --crm-restart-cmd", 0.0),
    ]
    return ConformanceResult.build(INFO, ids, records, urls=["http://x"], duration_s=3.2)


def test_json_report_shape(tmp_path: Path) -> None:
    """report.json: specVersion, target, summary, requirements with the fields per id."""
    write_reports(_result(), report_dir=tmp_path)
    data = json.loads((tmp_path / "report.json").read_text())
    keys = {"specVersion", "target", "summary", "requirements", "coverage", "rerun", "nodes"}
    assert set(data) == keys
    assert data["specVersion"] == SPEC_VERSION and data["target"] == INFO
    assert set(data["summary"]) == {"pass", "fail", "non-strict", "not-run", "info"}
    evt1 = data["requirements"]["EVT-1"]
    assert {k: evt1[k] for k in ("verdict", "profile", "level")} == {
        "verdict": "fail",
        "profile": "core",
        "level": "MUST",
    }
    assert evt1["text"].startswith("Audience by visibility")
    test = evt1["tests"][0]
    assert {k: test[k] for k in ("name", "outcome", "message", "duration_s")} == {
        "name": "test_audience",
        "outcome": "failed",
        "message": "event leaked",
        "duration_s": 0.5,
    }
    assert test["failure"]["observed"] == {"receivers": ["mate", "stranger"]}
    assert data["requirements"]["CLU-2"]["verdict"] == "not-run"
    assert data["requirements"]["EVT-6"]["verdict"] == "non-strict"
    assert data["requirements"]["TRN-1"] == {
        "verdict": "not-run",
        "profile": "core",
        "level": "MUST",
        "text": data["requirements"]["TRN-1"]["text"],
        "tests": [],
        "reason": "no check of this requirement was run",
    }


def test_html_report_is_self_contained_and_escaped(tmp_path: Path) -> None:
    """report.html: verdicts by section, failures with expected vs observed, escaped text."""
    write_reports(_result(), report_dir=tmp_path)
    page = (tmp_path / "report.html").read_text()
    assert "§5 Data events" in page and 'id="EVT-1"' in page
    assert "&lt;script&gt;" in page and "<script>" not in page
    assert "stranger" in page  # the observed payload of the failure
    assert "<link" not in page and "src=" not in page  # nothing to fetch


def test_junit_one_case_per_requirement(tmp_path: Path) -> None:
    """JUnit: one testcase per id; fail → <failure>, not-run → <skipped>."""
    junit = tmp_path / "sub" / "junit.xml"
    result = _result()
    write_reports(result, junit_path=junit)
    suite = ET.parse(junit).getroot()
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert list(cases) == list(result.requirements)
    assert cases["EVT-1"].find("failure") is not None
    assert cases["CLU-2"].find("skipped") is not None
    assert cases["EVT-2"].find("failure") is None and cases["EVT-2"].find("skipped") is None
    assert suite.get("failures") == "1"


def test_node_view_in_the_reports_and_the_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """MET-1, CLU-1: given several nodes, report.json `nodes`, the HTML Nodes table and the
    terminal show each node's figures beside their sum; blank where a node exposes none."""
    from harness.cli.conform import _print_nodes

    ids = [r.id for r in requirements_for(Profile.CORE)]
    full = {"connections": 0, "events_emitted": 12, "events_received": 30, "replayed": 4,
            "refusals": 1, "deliveries": 40}  # fmt: skip
    bare = {"connections": None, "events_emitted": None, "events_received": None,
            "replayed": None, "refusals": None, "deliveries": 9}  # fmt: skip
    nodes = {"http://n1": full, "http://n2": bare, "sum": {**full, "deliveries": 49}}
    result = ConformanceResult.build(INFO, ids, [], urls=["http://n1", "http://n2"], nodes=nodes)
    write_reports(result, report_dir=tmp_path)
    assert json.loads((tmp_path / "report.json").read_text())["nodes"] == nodes
    page = (tmp_path / "report.html").read_text()
    assert "<h2>Nodes</h2>" in page and "<th>connections at the end</th>" in page
    _print_nodes(nodes)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["node", "connections", "at"]
    assert lines[2].split() == ["http://n1", "0", "12", "30", "4", "1", "40"]
    assert lines[3].split() == ["http://n2", "–", "–", "–", "–", "–", "9"]
    assert lines[4].split() == ["sum", "0", "12", "30", "4", "1", "49"]
    _print_nodes({"http://n1": full, "sum": full})  # one node: nothing to put side by side
    assert capsys.readouterr().out == ""
