"""The GitHub Action's verdict: one `StepResult` per command, rendered as the job summary
(GitHub-flavoured Markdown for `$GITHUB_STEP_SUMMARY`) and as workflow annotations.

Read from what the commands wrote: the conformance `report.json` (counts by verdict, the MUST
ids that failed and why) and the load run's `summary.json` (its `verdict.gates`). The exit
codes decide pass or fail; the reports only explain it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from harness.reporting import markdown_table

__all__ = ["Status", "Step", "StepResult", "error_annotations", "render_summary", "status_of"]

Status = Literal["pass", "fail", "error", "skipped"]
Step = Literal["conformance", "load"]
_ICONS: dict[Status, str] = {"pass": "✅", "fail": "❌", "error": "⚠️", "skipped": "➖"}
_CELL_CHARS = 160  # a table cell stays one readable line


@dataclass(frozen=True, slots=True)
class StepResult:
    step: Step
    status: Status
    report_dir: Path
    error: str = ""  # the command's last line on stderr when it could not run

    @property
    def report(self) -> dict[str, Any] | None:
        """report.json (conformance) or summary.json (load), None when not written."""
        name = "report.json" if self.step == "conformance" else "summary.json"
        try:
            data = json.loads((self.report_dir / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None


def status_of(exit_code: int) -> Status:
    """Both commands exit 0 on pass, 1 when a MUST or a gate failed, 2 when they could not run."""
    return "pass" if exit_code == 0 else "fail" if exit_code == 1 else "error"


def _one_line(text: str) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= _CELL_CHARS else line[: _CELL_CHARS - 1] + "…"


def _failing_musts(report: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    requirements = report.get("requirements", {})
    return [(rid, r) for rid, r in requirements.items() if r.get("verdict") == "fail"]


def _observed(requirement: dict[str, Any]) -> str:
    """What the first failing check saw: its title, expected vs observed where it says."""
    for test in requirement.get("tests", []):
        failure = test.get("failure")
        if test.get("outcome") != "failed" or not isinstance(failure, dict):
            continue
        text = failure.get("title") or test.get("message", "")
        expected, observed = failure.get("expected"), failure.get("observed")
        if expected is not None or observed is not None:
            text += f": expected {json.dumps(expected)}, observed {json.dumps(observed)}"
        return _one_line(text)
    return _one_line(requirement.get("reason", ""))


def _failed_gates(summary: dict[str, Any]) -> list[dict[str, Any]]:
    gates = summary.get("verdict", {}).get("gates", [])
    return [g for g in gates if g.get("status") != "pass"]


def _detail(result: StepResult) -> str:
    """The overview table's one line per step."""
    report = result.report
    if result.status == "skipped":
        return "not run (input load: false)"
    if report is None:
        return _one_line(result.error or "no report was written")
    if result.step == "conformance":
        counts = " · ".join(f"{v} {k}" for k, v in report.get("summary", {}).items())
        failing = ", ".join(f"`{rid}`" for rid, _ in _failing_musts(report))
        return counts + (f" — MUST failed: {failing}" if failing else "")
    gates = report.get("verdict", {}).get("gates", [])
    failed = ", ".join(f"`{g.get('gate')}`" for g in _failed_gates(report))
    met = f"{len(gates) - len(_failed_gates(report))}/{len(gates)} gates met"
    return met + (f" — failed: {failed}" if failed else "")


def _conformance_section(report: dict[str, Any]) -> list[str]:
    lines = [*markdown_table(("verdict", "requirements"), list(report["summary"].items())), ""]
    failing = _failing_musts(report)
    if failing:
        rows = [(f"`{rid}`", _one_line(r.get("text", "")), _observed(r)) for rid, r in failing]
        lines += ["**MUST requirements that failed**", ""]
        lines += [*markdown_table(("id", "requirement", "observed"), rows), ""]
        reruns = [r["rerun"] for _, r in failing if r.get("rerun")]
        if reruns:  # GitHub renders <details> folded; the command holds no secret
            lines += ["<details><summary>Rerun one requirement</summary>", "", "```sh"]
            lines += [*reruns, "```", "", "</details>", ""]
    return lines


def _load_section(summary: dict[str, Any]) -> list[str]:
    verdict = summary.get("verdict", {})
    # failed gates first
    gates = sorted(verdict.get("gates", []), key=lambda g: g.get("status") == "pass")
    rows = [(_ICONS["pass"] if g.get("status") == "pass" else _ICONS["fail"],
             f"`{g.get('title', g.get('gate'))}`", _one_line(g.get("message", "")))
            for g in gates]  # fmt: skip
    source = verdict.get("slo") or "default gates"
    return [f"Gates from `{source}`:", "", *markdown_table(("", "gate", "result"), rows), ""]


def render_summary(
    results: Sequence[StepResult], urls: Sequence[str], artifact: str, load_label: str = ""
) -> str:
    """The job summary: an overview table, then each step's detail."""
    passed = all(r.status in ("pass", "skipped") for r in results)
    head = "passed" if passed else "failed"
    lines = [f"## {_ICONS['pass' if passed else 'fail']} crm-harness: {head}", ""]
    lines += [f"Target: {', '.join(f'`{url}`' for url in urls)}", ""]
    titles = {"conformance": "Conformance", "load": f"Load{load_label}"}
    overview = [(titles[r.step], f"{_ICONS[r.status]} {r.status}", _detail(r)) for r in results]
    lines += [*markdown_table(("step", "verdict", "detail"), overview), ""]
    for result in results:
        report = result.report
        if report is None:
            continue
        lines += [f"### {_ICONS[result.status]} {titles[result.step]}", ""]
        if result.step == "conformance":
            lines += _conformance_section(report)
        else:
            lines += _load_section(report)
    lines.append(f"Reports (HTML, JSON, JUnit): the workflow artifact `{artifact}`.")
    return "\n".join(lines) + "\n"


def error_annotations(results: Sequence[StepResult]) -> list[str]:
    """`::error` workflow commands: each failed MUST and gate shows on the run's page."""
    found = []
    for result in results:
        report = result.report
        if result.status == "error":
            found.append(f"::error title=crm-harness {result.step}::{_one_line(result.error)}")
        elif report is not None and result.step == "conformance":
            found += [f"::error title=MUST failed: {rid}::{_observed(r)}"
                      for rid, r in _failing_musts(report)]  # fmt: skip
        elif report is not None:
            found += [
                f"::error title=SLO gate failed: {g.get('gate')}::{_one_line(g.get('message', ''))}"
                for g in _failed_gates(report)
            ]
    return found
