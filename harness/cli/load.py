"""`crm-harness load`: simulate agents against a server; per-recipient latency, loss, leaks.

Repeat --url for each node of a cluster: users' sockets (a second tab on another node) and REST
calls spread over the nodes. Without --url it starts the bundled reference server for the run
and stops it after, or with --nodes N a local cluster on --redis-url and --database-url. Exit 0
when the run is clean, 1 when it is red (a leak, a duplicate or a final loss), 2 on bad
options or an unreachable server.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.durations import parse_duration  # re-exported: its home before harness.durations

from ._target import add_target_options, load_target_from_args

if TYPE_CHECKING:
    from harness.rundir import RunSummary

__all__ = ["add_parser", "parse_duration"]


def _workers(text: str) -> int:
    """--workers: a count ≥ 0, or `auto`."""
    from harness.load.config import AUTO_WORKERS

    if text == "auto":
        return AUTO_WORKERS
    try:
        count = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a count or 'auto', got {text!r}") from None
    if count < 0:
        raise argparse.ArgumentTypeError(f"must be ≥ 0 or 'auto', got {count}")
    return count


def add_parser(subparsers: Any) -> None:
    from harness.load.config import AUTO_WORKERS, USERS_PER_PROCESS
    from harness.load.workload import SCENARIOS

    p: argparse.ArgumentParser = subparsers.add_parser(
        "load", help="run a load scenario (Locust)", description=__doc__
    )
    p.add_argument("--url", action="append", metavar="URL",
                   help="server base URL; repeat for every node of a cluster (default: start "
                   "the bundled reference server)")  # fmt: skip
    p.add_argument("--nodes", type=int, default=1,
                   help="without --url: start a local cluster of N nodes (needs --redis-url "
                   "and --database-url)")  # fmt: skip
    p.add_argument("--redis-url", help="--nodes: the local cluster's Redis")
    p.add_argument("--database-url", help="--nodes: the local cluster's PostgreSQL")
    p.add_argument("--users", type=int, default=20, help="simulated users (default 20)")
    p.add_argument("--spawn-rate", type=float, default=10.0, help="users started per second")
    p.add_argument("--duration", default="60s", help="run time, e.g. 60s, 2m (default 60s)")
    p.add_argument("--scenario", default="team_sync", choices=SCENARIOS, metavar="NAME",
                   help=f"one of: {', '.join(SCENARIOS)} (default team_sync)")  # fmt: skip
    p.add_argument("--workers", type=_workers, default=AUTO_WORKERS, metavar="N|auto",
                   help="local Locust worker processes; 0: one process; default auto: one "
                        "process up to --users-per-process users, else one worker per "
                        "that many users, at most one per core")  # fmt: skip
    p.add_argument("--users-per-process", type=int, default=USERS_PER_PROCESS,
                   help=f"with --workers auto (default {USERS_PER_PROCESS})")  # fmt: skip
    p.add_argument("--remote-workers", type=int, default=0,
                   help="also wait for this many workers started on other machines")  # fmt: skip
    p.add_argument("--master-bind-host", default="127.0.0.1",
                   help="where the master listens for workers (0.0.0.0: remote)")  # fmt: skip
    p.add_argument("--master-bind-port", type=int,
                   help="where the master listens (default: 5557 with --remote-workers, "
                   "else a free port)")  # fmt: skip
    p.add_argument("--report", type=Path, help="run directory (default reports/load-<time>)")
    p.add_argument("--workload", type=Path, help="workload file (.toml, .yaml, .json)")
    p.add_argument("--think-time", type=float, help="mean seconds between a user's actions")
    p.add_argument("--users-per-team", type=int, help="team size (default 10)")
    p.add_argument("--slo", type=Path,
                   help="SLO gates (TOML): exit 1 when a gate fails")  # fmt: skip
    p.add_argument("--metrics-port", type=int, metavar="PORT",
                   help="serve the run's live figures (users, changes/s, deliveries/s, "
                   "latency percentiles, losses, generator CPU) for Prometheus on this port; "
                   "with workers the master serves them for all")  # fmt: skip
    p.add_argument("--metrics-host", default="127.0.0.1",
                   help="where --metrics-port listens (0.0.0.0: other machines)")  # fmt: skip
    p.add_argument("--web", action="store_true", help="open Locust's web UI instead of headless")
    p.add_argument("--web-port", type=int, default=8089)
    add_target_options(p)
    p.set_defaults(run=run)


def _config(args: argparse.Namespace) -> Any:
    from harness.load import DEFAULT_JWT_SECRET, LoadConfig, Workload, load_workload_file

    workload = load_workload_file(args.workload) if args.workload else Workload()
    overrides: dict[str, Any] = {}
    if args.think_time is not None:
        overrides["think_time_s"] = args.think_time
    if args.users_per_team is not None:
        overrides["users_per_team"] = args.users_per_team
    if overrides:
        workload = workload.with_overrides(**overrides)
    target = load_target_from_args(args)
    if args.nodes > 1 and args.url:
        from harness import UsageError

        raise UsageError("--nodes starts a local cluster: give --nodes or --url, not both")
    return LoadConfig(
        users=args.users,
        spawn_rate=args.spawn_rate,
        duration_s=parse_duration(args.duration),
        urls=target.urls,
        nodes=args.nodes,
        redis_url=args.redis_url,
        database_url=args.database_url,
        jwt_secret=target.jwt_secret or DEFAULT_JWT_SECRET,  # the bundled server's, if none
        target=target.values,
        scenario=args.scenario,
        workers=args.workers,
        users_per_process=args.users_per_process,
        remote_workers=args.remote_workers,
        master_bind_host=args.master_bind_host,
        master_bind_port=args.master_bind_port,
        report_dir=args.report,
        workload=workload,
        web=args.web,
        web_port=args.web_port,
        metrics_port=args.metrics_port,
        metrics_host=args.metrics_host,
    )


def _print_summary(run_dir: Path, s: RunSummary) -> None:
    from harness.reporting import NODE_HEADERS, WRITE_HEADERS, node_rows, text_table, write_rows

    e2e, fan, d = s.latency_ms.e2e, s.latency_ms.fanout, s.deliveries
    lines = [
        f"run directory: {run_dir}",
        f"users {s.users} | changes {s.changes.ok} ({s.changes_per_s}/s)"
        f" | deliveries {d.received}/{d.expected} ({s.deliveries_per_s}/s)",
        f"loss live {s.loss.live} final {s.loss.final} | duplicates {s.duplicates}"
        f" | out of order {s.out_of_order} | isolation leaks {s.isolation_leaks}"
        f" | redaction leaks {s.redaction_leaks}",
        f"e2e ms p50 {e2e.p50} p95 {e2e.p95} p99 {e2e.p99} max {e2e.max}"
        f" | fan-out ms p50 {fan.p50} p99 {fan.p99}",
        f"bytes per update (median) {s.bytes_per_update.median} | connect errors"
        f" {s.connect_errors} | generator cpu max {s.generator.cpu_percent_max}%",
    ]
    g = s.generator
    if g.cpu_us_per_delivery is not None:
        lines.append(
            f"generator cost: {g.cpu_us_per_delivery} µs CPU per delivery, {g.cpu_ms_per_user} ms"
            f" per user, ≈ {g.deliveries_per_core_s} deliveries/s per core (see the report)"
        )
    if s.connect_refusals:
        refusals = ", ".join(f"{code} {n}" for code, n in s.connect_refusals.items())
        lines.append(f"users refused busy {s.refused_users} | connects refused: {refusals}")
    if s.ai_tasks.requested:
        ai = s.ai_tasks
        lines.append(
            f"AI tasks {ai.requested} | completed {ai.completed} failed {ai.failed}"
            f" | request → completed ms p50 {ai.completion_ms.p50}"
        )
    if s.reconnects:
        lines.append(
            f"reconnects {s.reconnects} | replayed {d.replayed} | reconnect + sync ms"
            f" p50 {s.reconnect_ms.p50} p99 {s.reconnect_ms.p99}"
        )
    if s.flood.sent:
        lines.append(
            f"flood: sent {s.flood.sent} | RATE_LIMITED {s.flood.rate_limited} | disconnected"
            f" by the server {s.flood.disconnects} time(s)"
        )
    if s.bytes_per_update.refetch_median is not None:
        lines.append(
            f"refetch baseline: {s.bytes_per_update.refetch_median} bytes per refetch,"
            f" change → refetched ms p50 {s.latency_ms.refetch_e2e.p50}"
        )
    writes = [row.cells() for row in write_rows(s) if row.op == "all"]
    if writes:  # per op: report.html and summary.md
        lines += text_table(WRITE_HEADERS, writes)
    nodes = node_rows(s)
    if len(nodes) > 1:
        lines += text_table(NODE_HEADERS, nodes)
    lines += [f"note: {n}" for n in s.notes]
    print("\n".join(lines))


def run(args: argparse.Namespace) -> int:
    from harness.load import run_load
    from harness.reporting import load_slo, write_reports
    from harness.rundir import RunSummary

    from ._target import announce_target

    # A mistyped gate must cost one line, not a whole run: parse the SLO first.
    slo = load_slo(args.slo) if args.slo is not None else None
    config = _config(args)
    announce_target("load", config.urls, nodes=config.nodes)
    run_dir = run_load(config)
    summary = RunSummary.from_json(json.loads((run_dir / "summary.json").read_text()))
    _print_summary(run_dir, summary)
    report = write_reports(run_dir, slo)
    print(f"report: {report.outputs['html']}")
    if not summary.passed:
        print("crm-harness load: RED: leaks, duplicates or final loss (see anomalies.csv)",
              file=sys.stderr)  # fmt: skip
        return 1
    report.raise_for_gates()
    return 0
