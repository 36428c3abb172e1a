"""`crm-harness sweep --users 10,100,1000 [--nodes 1,3] [--duration 30s] [--report DIR]`."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_parser", "parse_counts"]


def parse_counts(text: str, option: str) -> list[int]:
    """`10,100,1000` → [10, 100, 1000]; UsageError for anything but positive integers."""
    from harness import UsageError

    try:
        counts = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise UsageError(f"{option}: expected comma-separated integers, got {text!r}") from None
    if not counts or any(c < 1 for c in counts):
        raise UsageError(f"{option}: expected positive integers, got {text!r}")
    return counts


def add_parser(subparsers: Any) -> None:
    from ._load_options import add_load_options

    parser: argparse.ArgumentParser = subparsers.add_parser(
        "sweep",
        help="run load at several user counts (and node counts): the measured scaling table",
        description="One load run per users × nodes; writes sweep.csv, sweep.md and "
        "sweep.html (table and plots) into --report DIR, each step's run directory beside them.",
    )
    parser.add_argument("--users", required=True, help="comma-separated, e.g. 10,100,1000")
    parser.add_argument("--nodes", default="1", help="comma-separated node counts (default 1)")
    parser.add_argument(
        "--redis-url",
        help="the clusters' Redis (needed for --nodes > 1; "
        "with it, every step runs a fresh local cluster, one node included)",
    )
    parser.add_argument("--database-url", help="the clusters' PostgreSQL (with --redis-url)")
    add_load_options(parser, duration="30s")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime
    from pathlib import Path

    from harness import UsageError
    from harness.experiments import cluster_support, load_runner, run_sweep, sweep_steps
    from harness.reporting import write_sweep

    from ._load_options import template_from_args
    from ._target import announce_target

    users = parse_counts(args.users, "--users")
    nodes = parse_counts(args.nodes, "--nodes")
    if any(n > 1 for n in nodes):
        reason = cluster_support()
        if reason is not None:
            raise UsageError(f"--nodes > 1 is not available: {reason}")
        if args.url:
            raise UsageError("--nodes > 1 starts its own cluster: drop --url")
        if not args.redis_url or not args.database_url:
            raise UsageError("--nodes > 1 needs --redis-url and --database-url (postgresql://)")
    template = template_from_args(args)
    announce_target("sweep", template.urls)
    out_dir = args.report or Path("reports") / datetime.now(UTC).strftime("sweep-%Y%m%d-%H%M%S")
    rows = run_sweep(sweep_steps(users, nodes), load_runner(template), out_dir)
    outputs = write_sweep(rows, out_dir)
    print(f"wrote {outputs['html']}, {outputs['csv'].name}, {outputs['markdown'].name}")
    failed = [r for r in rows if r.error]
    return 1 if failed else 0
