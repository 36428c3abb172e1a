"""The load options `sweep` and `capacity` share, and the `LoadTemplate` they make."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from ._target import add_target_options, load_target_from_args

if TYPE_CHECKING:
    from harness.experiments import LoadTemplate

__all__ = ["add_load_options", "template_from_args"]


def add_load_options(parser: argparse.ArgumentParser, *, duration: str) -> None:
    parser.add_argument("--duration", default=duration, help=f"per step (default {duration})")
    parser.add_argument("--url", action="append", metavar="URL",
                        help="server under test; repeat for every node of a cluster "
                        "(default: start the reference server)")  # fmt: skip
    parser.add_argument("--scenario", default="team_sync", help="load scenario (team_sync)")
    parser.add_argument("--workers", type=int, default=0, help="local Locust worker processes")
    parser.add_argument(
        "--spawn-rate", type=float, help="users started per second (default: users/10, at least 10)"
    )
    parser.add_argument("--workload", type=Path, help="workload file (.toml, .yaml, .json)")
    parser.add_argument("--think-time", type=float, help="mean seconds between a user's actions")
    parser.add_argument("--report", type=Path, required=False,
                        help="directory for the step runs and the tables")  # fmt: skip
    add_target_options(parser)


def template_from_args(args: argparse.Namespace) -> LoadTemplate:
    """The options as a `LoadTemplate`; UsageError (one line) for a bad value."""
    from harness.durations import parse_duration
    from harness.experiments import LoadTemplate

    target = load_target_from_args(args)
    return LoadTemplate(
        duration_s=parse_duration(args.duration),
        scenario=args.scenario,
        urls=target.urls,
        jwt_secret=target.jwt_secret,
        target=target.values,
        workers=args.workers,
        spawn_rate=args.spawn_rate,
        workload_file=args.workload,
        think_time_s=args.think_time,
        redis_url=getattr(args, "redis_url", None),
        database_url=getattr(args, "database_url", None),
    )
