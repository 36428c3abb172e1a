"""Regenerate what the recorded runs under tests/run_model/fixtures/ are expected to give.

Only after a DELIBERATE change of summary.json's shape or figures (the test
tests/run_model/test_run_model_contract.py guards both): rewrites each fixture's engine
`summary.json` (what `crm-harness load` writes at the end of a run) and `expected/` (what
`crm-harness report` writes from it). The recorded CSVs and run.json are never touched.

    .venv/bin/python scripts/refresh_run_fixtures.py
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "run_model"))

from run_fixtures import FIXTURE_SLO, FIXTURES, REPORT_FILES, copy_run, run_names

from harness.load import summarize
from harness.reporting import parse_slo, write_reports


def main() -> int:
    slo = parse_slo(FIXTURE_SLO, "fixture SLO")
    for name in run_names():
        summary = summarize(FIXTURES / name)
        (FIXTURES / name / "summary.json").write_text(json.dumps(summary, indent=2))
        with tempfile.TemporaryDirectory() as tmp:
            run_dir = copy_run(name, Path(tmp))
            write_reports(run_dir, slo)
            expected = FIXTURES / name / "expected"
            expected.mkdir(exist_ok=True)
            for file in REPORT_FILES:
                shutil.copyfile(run_dir / file, expected / file)
        print(f"{name}: summary.json and expected/ rewritten", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
