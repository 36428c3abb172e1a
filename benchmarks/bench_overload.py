"""One node asked for more users than it can hold (LIM-6): does it shed, or collapse?

Starts the reference server with a connection budget (--max-connections; 0 leaves only the
loop-lag budget, --max-loop-lag-ms) and runs the default workload with --users users on it
(or runs against --url). Prints what the issue asks of a shedding node: how many users
connected, how many connects were refused and with which code, the fan-out p99 of the
connected sockets, how many connected sockets dropped, and the final loss after the closing
sync (with the sockets whose closing sync could not be made), and how late the node's loop
ran (its `/metrics`, scraped once a second).

    .venv/bin/python benchmarks/bench_overload.py                       # 20,000 users, lag only
    .venv/bin/python benchmarks/bench_overload.py --users 3000 --max-connections 2000 --hold 30

Run it under `flock /work/bench.lock` on a shared machine, and say so next to its figures.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import secrets
import sys
import threading
import time
from pathlib import Path
from typing import Any

__all__ = ["main"]


def _connected_users(run_dir: Path) -> int:
    with open(run_dir / "users.csv", newline="") as handle:
        return sum(int(row["sockets"]) > 0 for row in csv.DictReader(handle))


class NodeLag:
    """Scrapes the node's `crm_realtime_loop_lag_seconds` every second during the run: a
    stall of the node tells apart from one of the generator (which `generator` reports)."""

    def __init__(self, url: str) -> None:
        self._url = url.rstrip("/") + "/metrics"
        self._samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> NodeLag:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        import httpx

        while not self._stop.wait(1.0):
            try:
                text = httpx.get(self._url, timeout=5.0).text
            except httpx.HTTPError:
                continue  # a scrape the node could not answer in time: the next one tells
            match = re.search(r"^crm_realtime_loop_lag_seconds ([0-9.e+-]+)$", text, re.M)
            if match:
                self._samples.append(float(match.group(1)) * 1000.0)

    def figures(self, budget_ms: int) -> dict[str, Any]:
        lags = self._samples
        return {"samples": len(lags), "max_ms": round(max(lags, default=0.0), 1),
                "samples_over_budget": sum(lag > budget_ms for lag in lags),
                "samples_over_1s": sum(lag > 1000 for lag in lags)}  # fmt: skip


def _fanout_outside_generator_lag(run_dir: Path, lag_ms: float = 50.0) -> dict[str, Any]:
    """Fan-out of the deliveries a generator worker received outside its lagged seconds
    (loop lag over `lag_ms` in generator.csv, that second or the one either side): what is
    left when the generator's own delay is taken out, for a generator on the node's cores."""
    import pandas as pd

    from harness.rundir import load_run

    live = load_run(run_dir).live
    gen = pd.read_csv(run_dir / "generator.csv")
    late = gen[gen["loop_lag_ms"] > lag_ms]
    seconds = late["t"].astype(int)
    lagged = {(str(w), t + d) for w, t in zip(late["worker"], seconds, strict=True)
              for d in (-1, 0, 1)}  # fmt: skip
    keep = [(str(w), int(t)) not in lagged
            for w, t in zip(live["worker"], live["t_recv"], strict=True)]  # fmt: skip
    fanout = live.loc[keep, "fanout_ms"].dropna()
    if fanout.empty:
        return {"count": 0}
    return {"count": int(fanout.size), "p50": round(float(fanout.quantile(0.5)), 1),
            "p99": round(float(fanout.quantile(0.99)), 1)}  # fmt: skip


def _figures(s: dict[str, Any], budget: dict[str, int], run_dir: Path) -> dict[str, Any]:
    return {
        "users_asked": s["users"],
        "budget": budget,
        "users_connected": _connected_users(run_dir),
        "users_refused_busy": s["refused_users"],
        "connects_refused_by_code": s["connect_refusals"],  # every try, retries included
        "connect_errors": s["connect_errors"],
        "connect_error_reasons": s["connect_error_reasons"],
        "fanout_ms_connected": s["latency_ms"]["fanout"],
        "fanout_ms_outside_generator_lag": _fanout_outside_generator_lag(run_dir),
        "drops_of_connected_sockets": s["disconnects"],
        "changes_per_s": s["changes_per_s"],
        "changes": s["changes"],
        "deliveries": s["deliveries"],
        "loss": s["loss"],
        "duplicates": s["duplicates"],
        "generator": s["generator"],
        "run_dir": str(run_dir),
    }


def main() -> int:
    from reference_server.shedding import Shedding

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--spawn-rate", type=float, default=200.0)
    parser.add_argument("--hold", type=float, default=60.0, help="seconds after the ramp")
    # One generator process by default: with Locust 2.47 a worker on a CPU-starved machine
    # took seconds per spawn message (it rebuilds an argument parser for every option of
    # each) and got no users at all in a 3,000-user ramp at load average 12.
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--max-connections", type=int, default=0, help="node budget (0: none)")
    parser.add_argument("--max-loop-lag-ms", type=int, default=2000)
    parser.add_argument("--busy-retry-after-ms", type=int, default=2000)
    parser.add_argument(
        "--busy-retry-rate",
        type=int,
        default=Shedding().busy_retry_rate,
        help="refused connects asked back per second at most (0: no pacing)",
    )
    parser.add_argument("--busy-retry-after-max-ms", type=int,
                        default=Shedding().max_retry_after_ms)  # fmt: skip
    parser.add_argument("--url", help="a node started apart (its budget is its own)")
    parser.add_argument("--jwt-secret", help="with --url: the server's JWT secret")
    parser.add_argument("--report", type=Path, help="run directory")
    parser.add_argument("--figures-of", type=Path, metavar="RUN_DIR",
                        help="print the figures of a run made before, run nothing")  # fmt: skip
    args = parser.parse_args()
    if args.figures_of:
        summary = json.loads((args.figures_of / "summary.json").read_text())
        print(json.dumps(_figures(summary, {}, args.figures_of), indent=2))
        return 0

    from harness.load import LoadConfig, Workload, run_load
    from reference_server.config import ServerSettings
    from reference_server.launcher import start_server

    budget = {"max_connections": args.max_connections, "max_loop_lag_ms": args.max_loop_lag_ms,
              "retry_after_ms": args.busy_retry_after_ms,
              "busy_retry_rate": args.busy_retry_rate,
              "max_retry_after_ms": args.busy_retry_after_max_ms}  # fmt: skip
    secret = args.jwt_secret or secrets.token_hex(16)
    report = args.report or Path("reports") / time.strftime("bench-overload-%Y%m%d-%H%M%S")

    def load(url: str) -> Path:
        config = LoadConfig(
            users=args.users, spawn_rate=args.spawn_rate,
            duration_s=args.users / args.spawn_rate + args.hold, url=url, jwt_secret=secret,
            workers=args.workers, report_dir=report,
            workload=Workload(final_sync_timeout_s=120.0),
        )  # fmt: skip
        return run_load(config)

    if args.url:
        with NodeLag(args.url) as lag:
            run_dir = load(args.url)
    else:
        settings = ServerSettings(port=0, jwt_secret=secret, shedding=Shedding(**budget))
        with start_server(settings) as node, NodeLag(node.url) as lag:
            run_dir = load(node.url)
    summary = json.loads((run_dir / "summary.json").read_text())
    figures = _figures(summary, budget, run_dir)
    figures["node_loop_lag"] = lag.figures(args.max_loop_lag_ms)  # sampled once a second
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
