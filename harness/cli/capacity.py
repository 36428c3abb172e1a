"""`crm-harness capacity --slo FILE [--start 100] [--factor 2] [--max 20000]`."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_parser"]


def add_parser(subparsers: Any) -> None:
    from ._load_options import add_load_options

    parser: argparse.ArgumentParser = subparsers.add_parser(
        "capacity",
        help="ramp users until an SLO gate breaks, bisect: the capacity at SLO",
        description="Ramp users geometrically from --start by --factor until a gate of --slo "
        "fails, then bisect between the last pass and the first failure (at most --max-steps "
        "runs in all). Reports the largest user count that met the SLO.",
    )
    parser.add_argument("--slo", required=True, metavar="FILE", help="SLO gates (TOML)")
    parser.add_argument("--start", type=int, default=100, help="first user count (100)")
    parser.add_argument("--factor", type=float, default=2.0, help="ramp factor (2)")
    parser.add_argument("--max", dest="max_users", type=int, default=20000,
                        help="largest user count to try (20000)")  # fmt: skip
    parser.add_argument("--max-steps", type=int, default=12, help="run budget (12)")
    parser.add_argument("--resolution", type=float, default=0.1,
                        help="stop bisecting within this share of the capacity (0.1)")  # fmt: skip
    add_load_options(parser, duration="30s")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime
    from pathlib import Path

    from harness.experiments import CapacitySearch, find_capacity, judge_with_slo, load_runner
    from harness.reporting import load_slo, write_capacity

    from ._load_options import template_from_args
    from ._target import announce_target

    slo = load_slo(args.slo)
    search = CapacitySearch(args.start, args.factor, args.max_users, args.max_steps,
                            args.resolution)  # fmt: skip
    template = template_from_args(args)
    announce_target("capacity", template.urls)
    out_dir = args.report or Path("reports") / datetime.now(UTC).strftime("capacity-%Y%m%d-%H%M%S")
    result = find_capacity(judge_with_slo(load_runner(template), slo, out_dir), search)
    outputs = write_capacity(result, slo, out_dir)
    print(result.summary)
    print(f"wrote {outputs['html']}, {outputs['markdown'].name}, {outputs['json'].name}")
    return 0 if result.capacity > 0 else 1
