"""`report.html`: one self-contained page a person reads (jinja2 template beside this file).

Failures lead: a table of the failing ids, each linking to its detail (what was expected and
observed, the frames the check sent and received, the command that reruns that one id), then
every section in spec order.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jinja2

from .._model import ConformanceResult, Verdict
from .._node_view import NODE_COLUMNS, SUM_ROW
from ._details import failure_details
from ._markdown import markdown_html

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
        self._env.filters["markdown"] = markdown_html

    def render(self, result: ConformanceResult) -> str:
        sections: dict[str, list[tuple[str, Any]]] = {}
        for rid, req in result.requirements.items():
            title = f"§{req.requirement.section} {req.requirement.section_title}"
            sections.setdefault(title, []).append((rid, req))
        details = failure_details(result)
        return self._env.get_template(_TEMPLATE).render(
            result=result,
            summary=result.summary,
            sections=sections,
            details=details,
            failing={d.rid: d.anchor for d in details},
            must_failed=[d.rid for d in details if d.requirement.verdict is Verdict.FAIL],
            coverage=result.coverage(),
            target=_pretty(dict(result.target)),
            node_columns=NODE_COLUMNS,
            sum_row=SUM_ROW,
        )

    def write(self, result: ConformanceResult, path: Path) -> None:
        path.write_text(self.render(result), encoding="utf-8")
