"""JUnit XML with one testcase per requirement id, so CI shows verdicts by id.

`fail` is a <failure>, `not-run` a <skipped>; `non-strict` and `info` pass with their
message in <system-out> (a SHOULD missed does not break a build).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from .._model import ConformanceResult, Verdict

__all__ = ["JunitReport"]


class JunitReport:
    def write(self, result: ConformanceResult, path: Path) -> None:
        summary = result.summary
        suite = ET.Element(
            "testsuite",
            name="crm-conformance",
            tests=str(len(result.requirements)),
            failures=str(summary[Verdict.FAIL.value]),
            skipped=str(summary[Verdict.NOT_RUN.value]),
            errors="0",
            time=f"{result.duration_s:.3f}",
        )
        for rid, req in result.requirements.items():
            case = ET.SubElement(
                suite,
                "testcase",
                classname=f"conformance.{req.requirement.profile.value}",
                name=rid,
                time=f"{sum(t.duration_s for t in req.tests):.3f}",
            )
            if req.verdict is Verdict.FAIL:
                failing = next((t for t in req.tests if t.failure is not None), None)
                failure = ET.SubElement(case, "failure", message=req.reason or "MUST broken")
                if failing is not None and failing.failure is not None:
                    record = failing.failure
                    failure.text = (
                        f"{failing.name}\nexpected: {record.expected!r}\n"
                        f"observed: {record.observed!r}"
                    )
                if result.rerun:
                    failure.text = f"{failure.text or ''}\nrerun: {result.rerun_command(rid)}"
            elif req.verdict is Verdict.NOT_RUN:
                ET.SubElement(case, "skipped", message=req.reason or "not run")
            elif req.verdict in (Verdict.NON_STRICT, Verdict.INFO):
                ET.SubElement(case, "system-out").text = f"{req.verdict.value}: {req.reason}"
        ET.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)
