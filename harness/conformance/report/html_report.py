"""`report.html`: one self-contained page a person reads (jinja2 template beside this file)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jinja2

from .._model import ConformanceResult, Verdict

__all__ = ["HtmlReport"]

_TEMPLATE = "report.html.j2"


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=repr)


class HtmlReport:
    def __init__(self) -> None:
        self._env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(Path(__file__).parent),
            autoescape=jinja2.select_autoescape(["html", "j2"]),
            undefined=jinja2.StrictUndefined,
        )
        self._env.filters["pretty"] = _pretty

    def render(self, result: ConformanceResult) -> str:
        sections: dict[str, list[tuple[str, Any]]] = {}
        for rid, req in result.requirements.items():
            title = f"§{req.requirement.section} {req.requirement.section_title}"
            sections.setdefault(title, []).append((rid, req))
        failures = [
            (rid, test)
            for rid, req in result.requirements.items()
            if req.verdict in (Verdict.FAIL, Verdict.NON_STRICT)
            for test in req.tests
            if test.failure is not None or test.outcome.value == "non-strict"
        ]
        return self._env.get_template(_TEMPLATE).render(
            result=result,
            summary=result.summary,
            sections=sections,
            failures=failures,
            coverage=result.coverage(),
            target=_pretty(dict(result.target)),
        )

    def write(self, result: ConformanceResult, path: Path) -> None:
        path.write_text(self.render(result), encoding="utf-8")
