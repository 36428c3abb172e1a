"""Report output formats: each one handler behind the `ReportFormat` interface."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import jinja2

from ..rundir import PERCENTILES
from ._plots import report_plots
from ._report_context import ReportContext, records
from ._tables import (
    NODE_HEADERS,
    fmt_number,
    key_figures,
    markdown_table,
    node_rows,
    run_parameters,
)
from ._write_table import LOW_SAMPLE_MARK, WRITE_HEADERS, write_rows
from .refetch import update_costs

__all__ = [
    "HtmlReport",
    "JsonSummary",
    "JunitCase",
    "JunitReport",
    "MarkdownSummary",
    "ReportFormat",
    "default_formats",
    "render_template",
    "write_junit",
]


@runtime_checkable
class ReportFormat(Protocol):
    """Writes one file for a report context and returns its path."""

    name: str

    def write(self, context: ReportContext, out_dir: Path) -> Path: ...


class JsonSummary:
    """summary.json, refreshed: the engine's figures plus breakdowns and gate outcomes."""

    name = "json"
    filename = "summary.json"

    def write(self, context: ReportContext, out_dir: Path) -> Path:
        data = dict(context.summary_json)
        data["verdict"] = {
            "passed": context.verdict.passed,
            "slo": context.slo.source,
            "gates": [
                {"gate": o.gate, "title": o.title, "status": o.status.value,
                 "severity": o.severity, "observed": o.observed,
                 "threshold": o.threshold, "comparison": o.comparison.symbol, "unit": o.unit,
                 "message": o.message, "samples": o.samples, "low_sample": o.low_sample}
                for o in context.verdict.outcomes
            ],
        }  # fmt: skip
        path = out_dir / self.filename
        path.write_text(json.dumps(data, indent=2, allow_nan=False) + "\n", encoding="utf-8")
        return path


def _verdict_line(context: ReportContext) -> str:
    word = "PASS" if context.verdict.passed else "FAIL"
    failed = len(context.verdict.failures)
    total = len(context.verdict.outcomes)
    low = sum(1 for o in context.verdict.outcomes if o.low_sample)
    on_few = f", {low} on low-sample figures" if low else ""
    return f"{word}: {total - failed}/{total} gates met{on_few} ({context.slo.source})"


class MarkdownSummary:
    """summary.md: short enough for a GitHub job summary or a PR comment."""

    name = "markdown"
    filename = "summary.md"

    def write(self, context: ReportContext, out_dir: Path) -> Path:
        icon = "✅" if context.verdict.passed else "❌"
        lines = [f"## {icon} {context.title}", "", f"**{_verdict_line(context)}**", ""]
        lines += [f"> ⚠️ {note}" for note in context.warnings]
        if context.warnings:
            lines.append("")
        gate_rows = [
            ("✅" if o.passed else "❌", o.gate, o.limit, o.message)
            for o in context.verdict.outcomes
        ]
        lines += [*markdown_table(("", "gate", "limit", "result"), gate_rows), ""]
        lines += [*markdown_table(("figure", "value"), key_figures(context)), ""]
        writes = write_rows(context.summary)
        if writes:
            lines += ["### Write path (REST and mutate acks)", ""]
            lines += [*markdown_table(WRITE_HEADERS, [r.cells() for r in writes]), ""]
        if context.generator_cost:
            lines += [context.generator_cost, ""]
        nodes = node_rows(context.summary)
        if nodes:
            lines += ["### Nodes", "", *markdown_table(NODE_HEADERS, nodes), ""]
        if context.baseline is not None:
            costs = update_costs(context, context.baseline)
            lines += ["### Incremental updates vs full refetch", ""]
            lines += [*markdown_table(costs.headers, costs.rows), ""]
        path = out_dir / self.filename
        path.write_text("\n".join(lines), encoding="utf-8")
        return path


@dataclass(frozen=True, slots=True)
class JunitCase:
    name: str
    failure: str | None  # None: passed
    detail: str


def write_junit(path: Path, suite_name: str, classname: str, cases: Sequence[JunitCase]) -> Path:
    """One <testsuite> of one <testcase> per case: how CI shows gates and metrics as tests."""
    failures = sum(1 for c in cases if c.failure is not None)
    suite = ET.Element("testsuite", name=suite_name, tests=str(len(cases)),
                       failures=str(failures), errors="0")  # fmt: skip
    for c in cases:
        case = ET.SubElement(suite, "testcase", classname=classname, name=c.name)
        if c.failure is not None:
            ET.SubElement(case, "failure", message=c.failure).text = c.detail
        else:
            ET.SubElement(case, "system-out").text = c.detail
    root = ET.Element("testsuites", name="crm-harness")
    root.append(suite)
    ET.indent(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
    return path


class JunitReport:
    """JUnit XML, one testcase per gate; DIR/junit.xml unless given a path of its own."""

    name = "junit"

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else None

    def write(self, context: ReportContext, out_dir: Path) -> Path:
        cases = [
            JunitCase(o.gate, None if o.passed else o.message, f"{o.title}\n{o.message}")
            for o in context.verdict.outcomes
        ]
        suite = f"crm-harness slo: {context.run.name}"
        return write_junit(self.path or out_dir / "junit.xml", suite, "crm-harness.slo", cases)


_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("harness.reporting", "templates"),
    autoescape=jinja2.select_autoescape(["html", "j2"]),
    undefined=jinja2.StrictUndefined,
)


_ENV.filters["num"] = fmt_number


def render_template(name: str, **values: object) -> str:
    return _ENV.get_template(name).render(**values)


class HtmlReport:
    """report.html: one self-contained page, plots embedded as base64 PNG."""

    name = "html"
    filename = "report.html"

    def write(self, context: ReportContext, out_dir: Path) -> Path:
        figures = context.figures
        costs = update_costs(context, context.baseline) if context.baseline is not None else None
        html = render_template(
            "report.html.j2",
            ctx=context,
            verdict_line=_verdict_line(context),
            key_figures=key_figures(context),
            node_headers=NODE_HEADERS,
            node_rows=node_rows(context.summary),
            percentiles=[label for label, _ in PERCENTILES],
            by_event=records(figures.by_event),
            by_scope=records(figures.by_scope),
            per_stream=records(figures.streams_with_problems.head(50)),
            problem_streams=len(figures.streams_with_problems),
            stream_count=len(figures.per_stream),
            write_rows=write_rows(context.summary),
            write_headers=WRITE_HEADERS,
            low_sample_mark=LOW_SAMPLE_MARK,
            run_parameters=run_parameters(context.run.run),
            bytes_per_event=records(figures.bytes_per_event),
            leaks=records(figures.leaks.head(100)),
            leak_count=len(figures.leaks),
            generator=records(figures.generator),
            lag_windows=context.summary.generator.lag_windows,
            plots=report_plots(
                figures,
                context.run.generator,
                context.run.started_at,
                context.summary.generator.lag_windows,
            ),
            costs=costs,
        )
        path = out_dir / self.filename
        path.write_text(html, encoding="utf-8")
        return path


def default_formats(junit: str | Path | None = None) -> list[ReportFormat]:
    return [JsonSummary(), MarkdownSummary(), HtmlReport(), JunitReport(junit)]
