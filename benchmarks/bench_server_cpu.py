"""Server CPU per delivery under the default `team_sync` load, against any server (issue 13).

Runs `crm-harness load --users N --duration D` against the target and reports deliveries/s,
e2e p50/p95/p99, fan-out p99, the server's CPU-seconds over the run and its CPU µs per
delivery. CPU is the kernel's count for the server process and its children
(`/proc/<pid>/stat` through psutil, read before and after the run), not wall time: on a shared
machine other processes change wall time far more than a process's own CPU count. The machine
load average is printed next to every figure.

Targets:

- `--url URL [--server-pid PID]`: any server (without the pid, server CPU is unknown);
- `--reference`: starts the bundled reference server (SQLite, a temporary data dir);
- `--peer`: starts `benchmarks/peer/server.js`, a minimal in-memory Node socket.io fan-out
  server (installed with `npm install` on first use; needs Node and the npm registry);
- `--compare`: the reference server, then the peer, back to back; prints the ratio of their
  CPU per delivery (the issue's goal: at most 1.3x at 2,000 users).

`--runs N` repeats (interleaved with `--compare`) and prints the median and range of each
side and of the ratio: one run moves by ±20 % with the workload's random mix.

    flock /work/bench.lock .venv/bin/python benchmarks/bench_server_cpu.py --compare \\
        --users 2000 --spawn-rate 200 --duration 60
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psutil

__all__ = ["LoadFigures", "main", "peer_server", "run_load", "server_cpu_s"]

SECRET = "bench-secret-0123456789abcdef0123456789"
PEER_DIR = Path(__file__).resolve().parent / "peer"
_PEER_START_S = 15.0


@dataclass(frozen=True, slots=True)
class LoadFigures:
    target: str
    users: int
    duration_s: float
    deliveries: int
    deliveries_per_s: float
    e2e_p50_ms: float | None
    e2e_p95_ms: float | None
    e2e_p99_ms: float | None
    fanout_p99_ms: float | None
    loss_final: int
    connect_errors: int
    server_cpu_s: float | None  # None: no server pid given
    server_cpu_us_per_delivery: float | None
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float]

    def line(self) -> str:
        cpu = "unknown (no --server-pid)" if self.server_cpu_s is None else (
            f"{self.server_cpu_s:.1f} s = {self.server_cpu_us_per_delivery:.0f} µs/delivery"
        )  # fmt: skip
        load = "/".join(f"{x:.1f}" for x in self.load_before + self.load_after[:1])
        return (
            f"{self.target}: {self.users} users {self.duration_s:g} s | deliveries "
            f"{self.deliveries} ({self.deliveries_per_s:.0f}/s) | e2e p50/p95/p99 "
            f"{self.e2e_p50_ms}/{self.e2e_p95_ms}/{self.e2e_p99_ms} ms | fan-out p99 "
            f"{self.fanout_p99_ms} ms | loss {self.loss_final} | connect errors "
            f"{self.connect_errors} | server CPU {cpu} | load avg before 1/5/15 min, after 1 "
            f"min: {load} ({os.cpu_count()} cores)"
        )


def server_cpu_s(pid: int) -> float:
    """User + system CPU-seconds of the process and its live children so far."""
    proc = psutil.Process(pid)
    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            times = p.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def run_load(
    target: str, url: str, pid: int | None, users: int, spawn_rate: float, duration_s: float
) -> LoadFigures:
    """One `crm-harness load` run of the default workload; the server's CPU around it."""
    with tempfile.TemporaryDirectory(prefix="bench-cpu-") as tmp:
        run_dir = Path(tmp) / "run"
        cmd = [sys.executable, "-m", "harness", "load", "--url", url, "--jwt-secret", SECRET,
               "--users", str(users), "--spawn-rate", str(spawn_rate),
               "--duration", f"{duration_s:g}s", "--report", str(run_dir)]  # fmt: skip
        load_before = os.getloadavg()
        cpu_before = server_cpu_s(pid) if pid else None
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        cpu = server_cpu_s(pid) - cpu_before if pid and cpu_before is not None else None
        load_after = os.getloadavg()
        if not (run_dir / "summary.json").is_file():  # refused before running: say why
            last = (done.stderr or done.stdout).strip().splitlines()[-1:]
            raise SystemExit(f"bench_server_cpu: the load run failed: {' '.join(last)}")
        summary: dict[str, Any] = json.loads((run_dir / "summary.json").read_text())
    deliveries = int(summary["deliveries"]["rows"])
    per_delivery = None if cpu is None else round(cpu / max(deliveries, 1) * 1e6, 1)
    e2e, fanout = summary["latency_ms"]["e2e"], summary["latency_ms"]["fanout"]
    return LoadFigures(
        target=target,
        users=users,
        duration_s=duration_s,
        deliveries=deliveries,
        deliveries_per_s=float(summary["deliveries_per_s"]),
        e2e_p50_ms=e2e["p50"],
        e2e_p95_ms=e2e["p95"],
        e2e_p99_ms=e2e["p99"],
        fanout_p99_ms=fanout["p99"],
        loss_final=int(summary["loss"]["final"]),
        connect_errors=int(summary["connect_errors"]),
        server_cpu_s=None if cpu is None else round(cpu, 2),
        server_cpu_us_per_delivery=per_delivery,
        load_before=load_before,
        load_after=load_after,
    )


def _npm_install() -> None:
    if (PEER_DIR / "node_modules" / "socket.io").is_dir():
        return
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise SystemExit("bench_server_cpu: --peer needs Node.js and npm on PATH")
    print("installing the peer's packages (npm install)…", file=sys.stderr, flush=True)
    done = subprocess.run(
        [npm, "install", "--no-audit", "--no-fund"], cwd=PEER_DIR, capture_output=True, text=True
    )
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:]
        raise SystemExit(f"bench_server_cpu: npm install failed: {' '.join(tail)}")


@contextmanager
def peer_server() -> Iterator[tuple[str, int]]:
    """The Node peer on a free loopback port: (url, pid); stopped on exit."""
    from reference_server.launcher import free_port

    _npm_install()
    port = free_port()
    env = {**os.environ, "JWT_SECRET": SECRET}
    log = tempfile.TemporaryFile()  # noqa: SIM115 - held open for the child's life
    proc = subprocess.Popen(
        ["node", "server.js", "--port", str(port)], cwd=PEER_DIR, env=env, stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + _PEER_START_S
        while True:
            log.seek(0)
            if b"peer listening" in log.read():
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                tail = log.read().decode(errors="replace").strip().splitlines()[-1:]
                raise SystemExit(f"bench_server_cpu: the peer did not start: {' '.join(tail)}")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}", proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@contextmanager
def reference_server() -> Iterator[tuple[str, int]]:
    from reference_server.launcher import start_server

    server = start_server(jwt_secret=SECRET)
    try:
        assert server.pid is not None
        yield server.url, server.pid
    finally:
        server.close()


def _spread(values: list[float], fmt: str) -> str:
    """median (min–max): the spread of a series, never just its best run."""
    ordered = sorted(values)
    return (
        f"median {format(statistics.median(ordered), fmt)} "
        f"(min {format(ordered[0], fmt)}, max {format(ordered[-1], fmt)})"
    )


def _run(args: argparse.Namespace, target: str) -> LoadFigures:
    if target == "url":
        return run_load(args.url, args.url, args.server_pid, args.users, args.spawn_rate,
                        args.duration)  # fmt: skip
    start = reference_server if target == "reference" else peer_server
    with start() as (url, pid):
        return run_load(target, url, pid, args.users, args.spawn_rate, args.duration)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--url", help="a running server (see --server-pid)")
    where.add_argument("--reference", action="store_true", help="start the reference server")
    where.add_argument("--peer", action="store_true", help="start the Node peer")
    where.add_argument("--compare", action="store_true", help="reference, then peer; ratio")
    parser.add_argument("--server-pid", type=int, help="with --url: the server's process id")
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--spawn-rate", type=float, default=200.0)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds")
    parser.add_argument("--json", action="store_true", help="also print each run as JSON")
    parser.add_argument(
        "--runs", type=int, default=1, help="repeat, report the spread (not the best)"
    )
    args = parser.parse_args()
    if args.server_pid is not None and not psutil.pid_exists(args.server_pid):
        parser.error(f"--server-pid {args.server_pid}: no such process")
    if args.users < 1 or args.duration <= 0 or args.spawn_rate <= 0 or args.runs < 1:
        parser.error("--users, --duration, --spawn-rate and --runs must be > 0")
    from harness.load.run_controller import raise_nofile

    raise_nofile(args.users, 0.1)  # the servers started here inherit it
    targets = (
        ["reference", "peer"] if args.compare
        else ["reference"] if args.reference else ["peer"] if args.peer else ["url"]
    )  # fmt: skip
    by_target: dict[str, list[float]] = {t: [] for t in targets}
    ratios: list[float] = []
    for _ in range(args.runs):
        # Interleaved (reference, peer, reference, ...): a machine that gets busier or
        # quieter during the series touches both sides alike.
        round_us: dict[str, float] = {}
        for target in targets:
            figures = _run(args, target)
            print(figures.line(), flush=True)
            if args.json:
                print(json.dumps(asdict(figures)), flush=True)
            if figures.server_cpu_us_per_delivery is not None:
                round_us[target] = figures.server_cpu_us_per_delivery
                by_target[target].append(figures.server_cpu_us_per_delivery)
        if args.compare and round_us.get("reference") and round_us.get("peer"):
            ratios.append(round_us["reference"] / round_us["peer"])
            print(f"server CPU per delivery, reference / peer: {ratios[-1]:.2f}x (goal ≤ 1.3x)")
    if args.runs > 1:
        for target, values in by_target.items():
            if values:
                print(f"{target}: µs/delivery over {len(values)} runs {_spread(values, '.0f')}")
        if ratios:
            print(f"reference / peer over {len(ratios)} pairs: {_spread(ratios, '.2f')}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
