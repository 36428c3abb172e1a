"""write_reports: the HTML page, summary.json, summary.md and JUnit XML of one run."""

from __future__ import annotations

import base64
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from reporting_synth import standard_spec, write_run

from harness import GateFailed, UsageError
from harness.reporting import parse_slo, write_reports
from harness.reporting.formats import JsonSummary, MarkdownSummary

PLOT_KEYS = (
    "latency_cdf",
    "latency_over_time",
    "throughput_over_time",
    "connected_users",
    "latency_by_scope",
    "bytes_per_event",
    "generator_health",
)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# Where a test reads no HTML: rendering the plots is most of a report's cost.
LIGHT = (JsonSummary(), MarkdownSummary())


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return write_run(tmp_path / "run", standard_spec())


def test_html_has_verdict_every_plot_and_is_self_contained(run_dir: Path) -> None:
    """EVT-1, RED-1: leaks turn the default verdict red; every plot is an embedded PNG."""
    result = write_reports(run_dir)
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    assert not result.verdict.passed and result.exit_code == 0  # no --slo: page only
    assert re.search(r'id="verdict" class="verdict fail">\s*FAIL', html)
    for key in PLOT_KEYS:
        match = re.search(rf'data-plot="{key}"[^>]*src="data:image/png;base64,([^"]+)"', html)
        assert match, key
        assert base64.b64decode(match.group(1)).startswith(PNG_MAGIC)
    assert not re.search(r'src="(?!data:)', html)  # nothing fetched from elsewhere
    assert "isolation_leak" in html and "redaction_leak" in html


def test_saturated_generator_is_a_loud_warning(tmp_path: Path) -> None:
    """A saturated generator makes the figures unreliable: say so at the top."""
    spec = standard_spec()
    spec.summary = {"generator": {"saturated": True, "cpu_percent_max": 99.0}}
    run_dir = write_run(tmp_path / "run", spec)
    write_reports(run_dir)
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    assert html.index("LOAD GENERATOR SATURATED") < html.index("<h2>Gates")
    assert "LOAD GENERATOR SATURATED" in (run_dir / "summary.md").read_text(encoding="utf-8")


def test_passing_slo_gives_a_green_verdict_and_exit_0(tmp_path: Path) -> None:
    """Gates that hold: PASS everywhere, exit code 0."""
    spec = standard_spec()
    spec.anomalies = []
    run_dir = write_run(tmp_path / "run", spec)
    result = write_reports(run_dir, parse_slo({"p99_e2e_ms": 100, "isolation_leaks": 0}))
    assert result.verdict.passed and result.exit_code == 0
    assert 'class="verdict pass"' in (run_dir / "report.html").read_text(encoding="utf-8")


def test_raise_for_gates_is_one_line_naming_the_failed_gates(run_dir: Path) -> None:
    """What `load --slo` calls: GateFailed (exit 1) only when a given SLO failed."""
    write_reports(
        run_dir, formats=LIGHT
    ).raise_for_gates()  # default gates fail, but no SLO was given
    write_reports(run_dir, parse_slo({"p99_e2e_ms": 1000}), formats=LIGHT).raise_for_gates()
    with pytest.raises(GateFailed) as failed:
        write_reports(
            run_dir, parse_slo({"p99_e2e_ms": 50, "loss_final": 0}), formats=LIGHT
        ).raise_for_gates()
    message = str(failed.value)
    assert failed.value.exit_code == 1 and "\n" not in message
    assert message.startswith("1 SLO gate(s) failed: p99_e2e_ms:") and str(run_dir) in message


def test_summary_json_keeps_engine_figures_and_adds_breakdowns(run_dir: Path) -> None:
    """The engine's numbers stay; breakdowns and gate outcomes are added."""
    before = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    result = write_reports(run_dir, parse_slo({"p99_e2e_ms": 50}), formats=LIGHT)
    after = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    assert after["latency_ms"]["e2e"] == before["latency_ms"]["e2e"]
    assert after["breakdown"]["latency_ms_by_scope"]["team"]["e2e"]["p50"] == pytest.approx(55.0)
    assert after["breakdown"]["bytes_by_event"]["escrow:updated"]["median"] == 400
    gate = after["verdict"]["gates"][0]
    assert (gate["gate"], gate["status"], gate["threshold"]) == ("p99_e2e_ms", "fail", 50.0)
    assert gate["observed"] == pytest.approx(before["latency_ms"]["e2e"]["p99"])
    assert result.exit_code == 1


def test_markdown_and_junit_have_one_entry_per_gate(run_dir: Path, tmp_path: Path) -> None:
    """summary.md shows verdict and gates; JUnit has one testcase per gate, failures marked."""
    junit = tmp_path / "ci" / "slo.xml"
    slo = parse_slo({"p99_e2e_ms": 250, "duplicates": 0, "loss_final": 0})
    write_reports(run_dir, slo, junit=junit)
    markdown = (run_dir / "summary.md").read_text(encoding="utf-8")
    assert "FAIL: 2/3 gates met" in markdown
    assert all(f"| {name} |" in markdown for name in slo.thresholds)
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("tests") == "3" and suite.get("failures") == "1"
    failed = [c.get("name") for c in suite.iter("testcase") if c.find("failure") is not None]
    assert failed == ["duplicates"]


def test_bad_input_writes_nothing(run_dir: Path, tmp_path: Path) -> None:
    """A bad SLO file is refused before any report file is written."""
    bad = tmp_path / "slo.toml"
    bad.write_text("p99 = 1\n", encoding="utf-8")
    with pytest.raises(UsageError):
        write_reports(run_dir, bad)
    assert not (run_dir / "report.html").exists()


def test_scenario_figures_show_only_when_present(tmp_path: Path) -> None:
    """LIM-1, STR-5: flood and reconnect figures appear for the runs that have them."""
    plain = write_run(tmp_path / "plain", standard_spec())
    write_reports(plain, formats=LIGHT)
    assert "reconnects" not in (plain / "summary.md").read_text(encoding="utf-8")
    spec = standard_spec()
    spec.summary = {"reconnects": 12, "flood": {"sent": 400, "rate_limited": 380}}
    storm = write_run(tmp_path / "storm", spec)
    write_reports(storm, formats=LIGHT)
    markdown = (storm / "summary.md").read_text(encoding="utf-8")
    assert "| reconnects | 12 |" in markdown
    assert "| flood | sent 400 · rate_limited 380 |" in markdown


def test_unmatched_data_events_are_warned_about_but_notifications_are_not(tmp_path: Path) -> None:
    """EVT-5, COL-7: a data event with no successful change is flagged; a notification (an
    entity, no change of its own) is not."""
    spec = standard_spec()
    spec.anomalies = []
    note = dict(spec.deliveries[0], event="notification", version="", stream="user:u1")
    spec.deliveries.append(note)
    clean = write_run(tmp_path / "clean", spec)
    write_reports(clean, formats=LIGHT)
    assert "match no successful action" not in (clean / "summary.md").read_text("utf-8")
    for change in spec.actions:
        if change["entity_id"] == "l-0":
            change["ok"] = 0
    broken = write_run(tmp_path / "broken", spec)
    write_reports(broken, formats=LIGHT)
    assert "5 data-event deliveries match no successful action" in (
        broken / "summary.md"
    ).read_text("utf-8")


def test_clock_skew_shows_as_a_warning(tmp_path: Path) -> None:
    """Fan-out spans two clocks: deliveries stamped in the future are called out."""
    spec = standard_spec()
    for d in spec.deliveries[:3]:
        d["server_ts"] = d["t_recv"] + 0.050
    run_dir = write_run(tmp_path / "run", spec)
    write_reports(run_dir, formats=LIGHT)
    assert "3 deliveries arrived before their server timestamp" in (
        run_dir / "summary.md"
    ).read_text("utf-8")


def test_recompute_redoes_the_summary_with_the_load_analysis(run_dir: Path) -> None:
    """A stale summary.json is replaced by the engine's analysis of the same CSVs."""
    stale = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    stale["latency_ms"]["e2e"]["p99"] = 99999.0
    (run_dir / "summary.json").write_text(json.dumps(stale), encoding="utf-8")
    assert write_reports(run_dir, formats=LIGHT).summary.latency_ms.e2e.p99 == 99999.0
    fresh = write_reports(run_dir, recompute=True, formats=LIGHT).summary
    assert fresh.latency_ms.e2e.max == pytest.approx(100.0, abs=0.01)
    assert fresh.latency_ms.e2e.p99 == pytest.approx(100.0, abs=0.01)


def test_multi_node_run_shows_each_node_and_the_sum(tmp_path: Path) -> None:
    """CLU-1, MET-1: a run over several nodes shows a table of each node (the generator's
    sockets and live deliveries, the node's own peak connections, emits and refusals) and
    their sum, in the Markdown and the HTML; a node without /metrics shows dashes."""
    spec = standard_spec()
    node = {"sockets": 4, "connections_max": 4, "events_emitted": 11, "deliveries": 7,
            "refusals": 1}  # fmt: skip
    bare = {"sockets": 5, "deliveries": 9}
    total = {"sockets": 9, "connections_max": 4, "events_emitted": 11, "deliveries": 16,
             "refusals": 1}  # fmt: skip
    spec.summary = {"cluster": {"nodes": {"http://n1": node, "http://n2": bare}, "sum": total}}
    run_dir = write_run(tmp_path / "two", spec)
    write_reports(run_dir, formats=LIGHT)
    markdown = (run_dir / "summary.md").read_text(encoding="utf-8")
    assert "| http://n1 | 4 | 4 | 11 | 7 | 1 |" in markdown
    assert "| http://n2 | 5 | – | – | 9 | – |" in markdown
    assert "| sum | 9 | 4 | 11 | 16 | 1 |" in markdown
    write_reports(run_dir)
    page = (run_dir / "report.html").read_text(encoding="utf-8")
    assert '<table id="nodes">' in page and "http://n2" in page
    spec.summary = {"cluster": {"nodes": {"http://n1": node}, "sum": node}}
    single = write_run(tmp_path / "one", spec)
    write_reports(single, formats=LIGHT)
    assert "| sum |" not in (single / "summary.md").read_text(encoding="utf-8")
