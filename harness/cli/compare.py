"""`crm-harness compare BASE NEW [--threshold PCT] [--report DIR] [--fail-on-regression]`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

__all__ = ["add_parser"]


def add_parser(subparsers: Any) -> None:
    from harness.reporting import DEFAULT_NOISE_FLOOR_MS, DEFAULT_THRESHOLD_PCT

    parser: argparse.ArgumentParser = subparsers.add_parser(
        "compare",
        help="compare two load runs: relative change, regressions beyond run-to-run noise",
        description="Side-by-side figures of two run directories. A latency percentile "
        "regresses when a permutation test over one-second blocks of both runs gives p < 0.01 "
        "AND it grew by more than --threshold percent AND by more than --noise-floor-ms.",
    )
    parser.add_argument("base", metavar="BASE", help="baseline run directory")
    parser.add_argument("new", metavar="NEW", help="run directory to judge")
    parser.add_argument(
        "--threshold",
        metavar="PCT",
        type=float,
        default=DEFAULT_THRESHOLD_PCT,
        help=f"relative change that matters (default {DEFAULT_THRESHOLD_PCT:g})",
    )
    parser.add_argument(
        "--noise-floor-ms",
        metavar="MS",
        type=float,
        default=DEFAULT_NOISE_FLOOR_MS,
        help=f"absolute latency change below which nothing regresses "
        f"(default {DEFAULT_NOISE_FLOOR_MS:g})",
    )
    parser.add_argument(
        "--report", metavar="DIR", help="write compare.html, compare.md and compare.json into DIR"
    )
    parser.add_argument(
        "--junit", metavar="FILE", type=Path, help="JUnit XML: a testcase per metric"
    )
    parser.add_argument(
        "--fail-on-regression", action="store_true", help="exit 1 when any metric regressed"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from harness import UsageError
    from harness.reporting import (
        compare_runs,
        comparison_text,
        load_run,
        write_comparison,
        write_comparison_junit,
    )

    if not 0 <= args.threshold <= 1000:
        raise UsageError(f"--threshold must be a percentage 0–1000, got {args.threshold:g}")
    if args.noise_floor_ms < 0:
        raise UsageError(f"--noise-floor-ms must be >= 0, got {args.noise_floor_ms:g}")
    base, new = load_run(args.base), load_run(args.new)
    comparison = compare_runs(base, new, threshold_pct=args.threshold,
                              noise_floor_ms=args.noise_floor_ms)  # fmt: skip
    print("\n".join(comparison_text(comparison)))
    for warning in comparison.warnings:
        print(f"warning: {warning}")
    if args.report:
        outputs = write_comparison(comparison, Path(args.report))
        print(f"wrote {outputs.html}, {outputs.markdown.name}, {outputs.json.name}")
    if args.junit:
        print(f"wrote {write_comparison_junit(comparison, args.junit)}")
    regressions = comparison.regressions
    if regressions:
        print(f"REGRESSION: {', '.join(d.metric for d in regressions)}")
    else:
        print(f"no regression beyond {args.threshold:g}% (noise floor {args.noise_floor_ms:g} ms)")
    return 1 if regressions and args.fail_on_regression else 0
