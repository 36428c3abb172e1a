"""`summary.md`: the verdicts in a few lines for a CI job summary or a PR comment, failures
first, each with what was expected and observed and the command that reruns it (the frames
are in report.html and report.json)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .._model import ConformanceResult, Verdict
from ._details import failure_details

__all__ = ["MarkdownReport"]

_SHOWN_CHARS = 600  # of expected / observed: a job summary is read, not searched


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=repr)
    return text if len(text) <= _SHOWN_CHARS else text[:_SHOWN_CHARS] + "…"


class MarkdownReport:
    def render(self, result: ConformanceResult) -> str:
        details = failure_details(result)
        must = [d.rid for d in details if d.requirement.verdict is Verdict.FAIL]
        server = result.target.get("server", "server")
        head = f"{len(must)} MUST failed" if must else "no MUST failed"
        lines = [f"## {'❌' if must else '✅'} Conformance: {head} ({server})", "",
                 " · ".join(f"{k} {v}" for k, v in result.summary.items())
                 + f" — spec {result.spec_version}, {result.duration_s:.1f} s", ""]  # fmt: skip
        if not details:
            return "\n".join(lines)
        lines += ["| id | level | verdict | what went wrong |", "|---|---|---|---|"]
        for d in details:
            level, verdict = d.requirement.requirement.level.value, d.requirement.verdict.value
            lines.append(f"| {d.rid} | {level} | {verdict} | {_cell(d.requirement.reason)} |")
        for d in details:
            lines += ["", f"### {d.rid}"]
            for test in d.tests:
                failure = test.failure
                if failure is None:
                    lines += ["", f"`{test.name}`: {test.message}"]
                    continue
                lines += ["", f"`{test.name}`: **{failure.title}** {failure.message}".rstrip(), "",
                          f"- expected: `{_short(failure.expected)}`",
                          f"- observed: `{_short(failure.observed)}`"]  # fmt: skip
                if failure.frames:
                    lines.append(f"- {len(failure.frames)} frames sent and received: report.html")
            if d.rerun:
                lines += ["", "```sh", d.rerun, "```"]
        return "\n".join(lines) + "\n"

    def write(self, result: ConformanceResult, path: Path) -> None:
        path.write_text(self.render(result), encoding="utf-8")
