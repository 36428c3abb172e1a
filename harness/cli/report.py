"""`crm-harness report DIR [--slo FILE] [--junit FILE] [--baseline DIR]`."""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = ["add_parser"]


def add_parser(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "report",
        help="write report.html, summary.json/.md and JUnit XML for a load run; gate on an SLO",
        description="Write the HTML/JSON/Markdown/JUnit reports of a load run directory. "
        "With --slo, exit 1 when a gate fails.",
    )
    parser.add_argument(
        "run_dir", metavar="DIR", nargs="?", help="run directory written by `load --report`"
    )
    parser.add_argument("--list-gates", action="store_true", help="print every SLO gate and exit")
    parser.add_argument("--slo", metavar="FILE", help="SLO gates (TOML, see slo.example.toml)")
    parser.add_argument("--junit", metavar="FILE", help="JUnit XML path (default DIR/junit.xml)")
    parser.add_argument(
        "--baseline",
        metavar="DIR",
        help="a refetch_baseline run: adds the incremental-vs-refetch table",
    )
    parser.add_argument(
        "--recompute",
        action="store_true",
        help="redo the engine's summary from the CSVs instead of trusting DIR/summary.json",
    )
    parser.set_defaults(run=run)


def _list_gates() -> int:
    from harness.reporting import GATES

    width = max(len(name) for name in GATES)
    for gate in GATES.values():
        kind = "true|false" if gate.value_type is bool else gate.unit
        print(f"{gate.name:<{width}}  {gate.comparison.symbol:>2}  {kind:<10}  {gate.description}")
    return 0


def run(args: argparse.Namespace) -> int:
    from harness import UsageError
    from harness.reporting import write_reports

    if args.list_gates:
        return _list_gates()
    if args.run_dir is None:
        raise UsageError("give the run directory DIR (or --list-gates)")

    result = write_reports(
        args.run_dir, args.slo, junit=args.junit, baseline=args.baseline, recompute=args.recompute
    )
    for path in result.outputs.values():
        print(f"wrote {path}")
    word = "PASS" if result.verdict.passed else "FAIL"
    print(f"{word}: {len(result.verdict.outcomes) - len(result.verdict.failures)}"
          f"/{len(result.verdict.outcomes)} gates met")  # fmt: skip
    for failure in result.verdict.failures:
        print(f"  gate failed: {failure.gate} ({failure.limit}): {failure.message}",
              file=sys.stderr)  # fmt: skip
    return result.exit_code
