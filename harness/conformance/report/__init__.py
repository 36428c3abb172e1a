"""Conformance reports: one writer per format behind one small interface.

`DIR/report.json` (machine-readable), `DIR/report.html` (one self-contained page),
`DIR/summary.md` (a CI job summary), and a JUnit XML file with one testcase per requirement id.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from .._model import ConformanceResult
from .html_report import HtmlReport
from .json_report import JsonReport
from .junit_report import JunitReport
from .markdown_report import MarkdownReport

__all__ = [
    "HtmlReport",
    "JsonReport",
    "JunitReport",
    "MarkdownReport",
    "ReportWriter",
    "write_reports",
]


class ReportWriter(Protocol):
    def write(self, result: ConformanceResult, path: Path) -> None: ...


def write_reports(
    result: ConformanceResult,
    *,
    report_dir: str | Path | None = None,
    junit_path: str | Path | None = None,
) -> list[Path]:
    """Write the reports asked for; returns the paths written."""
    jobs: list[tuple[ReportWriter, Path]] = []
    if report_dir is not None:
        directory = Path(report_dir)
        directory.mkdir(parents=True, exist_ok=True)
        jobs.append((JsonReport(), directory / "report.json"))
        jobs.append((HtmlReport(), directory / "report.html"))
        jobs.append((MarkdownReport(), directory / "summary.md"))
    if junit_path is not None:
        Path(junit_path).parent.mkdir(parents=True, exist_ok=True)
        jobs.append((JunitReport(), Path(junit_path)))
    for writer, path in jobs:
        writer.write(result, path)
    return [path for _, path in jobs]
