"""The cluster on this machine: deliveries per second at p99 < 100 ms for 1 node versus N nodes,
and what the Redis fan-out costs every node as the cluster grows.

Part 1 (capacity): teams of agents whose sockets are spread over the nodes; one-field PATCHes
to each team's record arrive round-robin through the nodes at rising offered rates (open loop).
Latency is from just before a PATCH is sent to each team member's receipt of its `updated`
event. A step passes when every delivery arrived and p99 < 100 ms.

Part 2 (fan-out cost): every socket and every write on node-1; nodes 2..N have no socket at all,
so all the CPU they spend is the pub/sub listener decoding every emit of the cluster. Measured
per process with psutil for N = 1..4, with the same workload each time.

A private `redis-server` (no persistence) is started for the run; PostgreSQL is the local one
(a fresh database, dropped afterwards). Clients are raw Engine.IO websockets in a separate
process, as in bench_fanout.py.

    .venv/bin/python benchmarks/bench_cluster.py [--nodes 3] [--teams 10] [--members 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psutil
from cluster_bench_parts import (
    ClientFleet,
    Team,
    create_records,
    fresh_database,
    private_redis,
    write_at_rate,
)

from harness.client import Org, TokenFactory
from harness.spec import Limits
from reference_server.cluster import RunningCluster, start_cluster

__all__ = ["main"]

P99_TARGET_MS = 100.0


# -- measurements -------------------------------------------------------------------------------
def _p(values: list[float], q: int) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


@dataclass(frozen=True)
class Step:
    rate: float
    achieved: float
    deliveries_per_s: float
    expected: int
    received: int
    errors: int
    p50: float
    p99: float
    cpu_ms_per_patch: float  # all node processes together: what one change costs the cluster

    @property
    def passed(self) -> bool:
        return self.errors == 0 and self.received >= self.expected and self.p99 < P99_TARGET_MS


def _make_teams(org: Org, count: int, members: int) -> list[Team]:
    teams = []
    for _ in range(count):
        agents = org.team_of(members)
        teams.append(Team(agents[0], agents))
    return teams


def _cluster(nodes: int, redis_url: str, db_url: str, secret: str) -> RunningCluster:
    return start_cluster(
        nodes,
        redis_url,
        db_url,
        redis_prefix=f"bench{uuid.uuid4().hex[:6]}:",
        jwt_secret=secret,
        limits=Limits(maxConnectionsPerUser=50),
    )


def capacity(nodes: int, redis_url: str, args: argparse.Namespace) -> list[Step]:
    secret, org = secrets.token_hex(32), Org()
    tokens = TokenFactory(secret)
    teams = _make_teams(org, args.teams, args.members)
    with fresh_database() as db_url, _cluster(nodes, redis_url, db_url, secret) as cluster:
        urls = cluster.urls
        members = [m for t in teams for m in t.members]
        fleet = ClientFleet([(urls[i % nodes], tokens.mint(m)) for i, m in enumerate(members)])
        asyncio.run(create_records(urls[0], teams, tokens))
        pids = [node.pid for node in cluster.nodes if node.pid is not None]
        runs = []
        for rate in args.rates:
            started = time.monotonic()
            outcome: list[tuple[dict[Any, float], int]] = []

            def step(rate: float = rate, outcome: list[Any] = outcome) -> None:
                outcome.append(asyncio.run(write_at_rate(urls, teams, tokens, rate, args.seconds)))
                time.sleep(1.0)  # drain before the next step

            cpu_ms = sum(_cpu_ms_during(pids, step))
            sent, errors = outcome[0]
            runs.append((rate, sent, errors, time.monotonic() - started - 1.0, cpu_ms))
        receipts = fleet.receipts()
    steps = []
    for rate, sent, errors, took, cpu_ms in runs:
        latencies = [(at - sent[(rid, v)]) * 1000 for rid, v, at in receipts if (rid, v) in sent]
        steps.append(
            Step(
                rate,
                len(sent) / took,
                len(latencies) / took,
                len(sent) * args.members,
                len(latencies),
                errors,
                _p(latencies, 50),
                _p(latencies, 99),
                cpu_ms / max(1, len(sent)),
            )
        )
    print(
        f"\n{nodes} node(s), {fleet.connected} sockets ({args.teams} teams x {args.members}), "
        f"{os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.1f}"
    )
    print(
        " offered/s  achieved/s  deliveries/s  received/expected  errors  p50 ms  p99 ms"
        "  CPU ms/PATCH  ok"
    )
    for s in steps:
        print(
            f" {s.rate:9.0f}  {s.achieved:10.1f}  {s.deliveries_per_s:12.0f}  "
            f"{s.received:8d}/{s.expected:<8d}  {s.errors:6d}  {s.p50:6.1f}  {s.p99:6.1f}  "
            f"{s.cpu_ms_per_patch:12.1f}  {'yes' if s.passed else 'no'}"
        )
    return steps


def _cpu_seconds(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def fanout_cost(nodes: int, redis_url: str, redis_pid: int, args: argparse.Namespace) -> None:
    secret, org = secrets.token_hex(32), Org()
    tokens = TokenFactory(secret)
    teams = _make_teams(org, args.teams, args.members)
    with fresh_database() as db_url, _cluster(nodes, redis_url, db_url, secret) as cluster:
        first = cluster.urls[0]
        fleet = ClientFleet([(first, tokens.mint(m)) for t in teams for m in t.members])
        asyncio.run(create_records(first, teams, tokens))
        pids = [node.pid for node in cluster.nodes if node.pid is not None] + [redis_pid]
        # What the processes burn doing nothing (heartbeats, pings) over as long, subtracted.
        quiet = _cpu_ms_during(pids, lambda: time.sleep(args.seconds + 0.5))
        sent: dict[Any, float] = {}

        def write() -> None:
            made, _ = asyncio.run(
                write_at_rate([first], teams, tokens, args.fanout_rate, args.seconds)
            )
            sent.update(made)
            time.sleep(0.5)

        busy = _cpu_ms_during(pids, write)
        fleet.receipts()
    used = [max(0.0, b - q) for b, q in zip(busy, quiet, strict=True)]
    emits = max(1, len(sent))
    idle = used[1:-1]
    idle_avg = sum(idle) / len(idle) if idle else 0.0
    print(
        f" {nodes:5d}  {emits:6d}  {used[0]:10.0f}  {idle_avg:12.0f}  "
        f"{idle_avg / emits * 1000:10.0f}  {100 * idle_avg / max(used[0], 1e-9):8.1f}%  "
        f"{used[-1]:8.0f}"
    )


def _cpu_ms_during(pids: list[int], action: Callable[[], None]) -> list[float]:
    before = [_cpu_seconds(pid) for pid in pids]
    action()
    return [(_cpu_seconds(pid) - b) * 1000 for pid, b in zip(pids, before, strict=True)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--nodes", type=int, default=3, help="the cluster compared with 1 node")
    parser.add_argument("--teams", type=int, default=10)
    parser.add_argument("--members", type=int, default=10, help="sockets per team")
    parser.add_argument(
        "--rates",
        type=lambda s: [float(x) for x in s.split(",")],
        default=[25.0, 50.0, 100.0, 200.0],
        help="offered PATCH/s steps",
    )
    parser.add_argument("--seconds", type=float, default=4.0, help="per step")
    parser.add_argument("--fanout-rate", type=float, default=50.0)
    parser.add_argument("--max-nodes", type=int, default=4)
    args = parser.parse_args()
    with private_redis() as (redis_url, redis_pid):
        print("== deliveries per second at p99 < 100 ms ==")
        best = {}
        for nodes in sorted({1, args.nodes}):
            steps = capacity(nodes, redis_url, args)
            passing = [s.deliveries_per_s for s in steps if s.passed]
            best[nodes] = max(passing) if passing else 0.0
        for nodes, value in best.items():
            target = f"p99 < {P99_TARGET_MS:.0f} ms"
            print(f"best with {nodes} node(s): {value:.0f} deliveries/s at {target}")
        print("\n== Redis fan-out cost per node (all sockets and writes on node-1) ==")
        print(
            f" {args.fanout_rate:g} PATCH/s for {args.seconds:g} s; CPU ms above the idle baseline"
        )
        print(" nodes  emits  node-1 CPU  idle-node CPU  per 1k emits  vs node-1  redis CPU")
        for nodes in range(1, args.max_nodes + 1):
            fanout_cost(nodes, redis_url, redis_pid, args)


if __name__ == "__main__":
    main()
