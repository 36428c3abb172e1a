"""Generator efficiency: idle connected users per core and memory per user, lean vs Locust's.

Against the same reference server, one fresh process per client kind connects N idle users
(gevent, monkey-patched as under Locust), lets them sit through heartbeats for a window, and
reports the CPU it spent and the memory it grew by:

- `lean`: harness.load.wire.LeanSocket (one reader greenlet per socket)
- `locust-contrib`: locust.contrib.socketio.SocketIOClient, as SocketIOUser uses it
  (python-socketio's sync Client, plus the greenlet running `sio.wait`)

Idle users per core = N / (CPU seconds spent / window seconds): how many such users one core
could hold idle before it is saturated by their heartbeats and bookkeeping.

    .venv/bin/python benchmarks/bench_generator_efficiency.py --users 1000 --window 30

`--lengths 60 120` measures the whole load engine instead (issue 13): two `crm-harness load`
runs of the default workload that differ only in duration, each timed by the kernel's count of
CPU-seconds of the whole process tree (the command, its Locust processes; the server is not
counted). The difference of the two runs gives the CPU per further delivery (heartbeats and
actions included); what the longer run spent beyond that, per user, is the fixed part
(start, connect, tokens, closing sync, report); both are split too between the Locust
processes (run.json `generator_cpu_s`) and the controlling process (the rest of the tree:
plan, node sampler, part-file merge, summary, report). CPU-seconds, not wall time: on a shared
machine the other processes change the wall time far more than the CPU count.

    flock /work/bench.lock .venv/bin/python benchmarks/bench_generator_efficiency.py \
        --lengths 60 120 --users 2000 --spawn-rate 200
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from typing import Any

__all__ = ["main"]

SECRET = "bench-secret-0123456789abcdef0123456789"
KINDS = ("lean", "locust-contrib")


def _child(kind: str, url: str, users: int, window: float) -> dict[str, Any]:
    from gevent import monkey

    monkey.patch_all()
    import gevent
    import psutil

    # Import both clients before the baseline so that memory per user is the users' own.
    from locust.contrib.socketio import SocketIOClient
    from locust.event import EventHook

    from harness.client import Agent, TokenFactory
    from harness.load.wire import LeanSocket

    tokens = TokenFactory(SECRET)
    proc = psutil.Process()
    rss_before = proc.memory_info().rss
    clients: list[Any] = []
    failures = 0

    def token(i: int) -> str:
        agent = Agent(f"bench-{kind}-{i}", f"t-{i // 10}", f"b-{i // 50}", "Bench")
        return tokens.mint(agent, ttl_seconds=3600)

    def connect_lean(i: int) -> None:
        sock = LeanSocket(url, lambda *_: None)
        sock.connect(token(i))
        clients.append(sock)

    def connect_contrib(i: int) -> None:
        client = SocketIOClient(EventHook())
        client.connect(url, auth={"token": token(i)}, transports=["websocket"])
        clients.append((client, gevent.spawn(client.wait)))

    connect = connect_lean if kind == "lean" else connect_contrib
    started = time.monotonic()
    for batch in range(0, users, 50):
        jobs = [gevent.spawn(connect, i) for i in range(batch, min(users, batch + 50))]
        gevent.joinall(jobs)
        failures += sum(1 for j in jobs if j.exception is not None)
    connect_s = time.monotonic() - started
    gevent.sleep(2.0)
    cpu0 = proc.cpu_times()
    t0 = time.monotonic()
    gevent.sleep(window)
    cpu1 = proc.cpu_times()
    elapsed = time.monotonic() - t0
    cpu_s = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
    # Still connected after the window: a client that missed its pongs would not be.
    if kind == "lean":
        connected = sum(1 for sock in clients if sock.connected)
    else:
        connected = sum(1 for client, _ in clients if client.connected)
    rss_after = proc.memory_info().rss
    cpu_fraction = cpu_s / elapsed
    return {
        "kind": kind,
        "users": users,
        "connected": connected,
        "failures": failures,
        "connect_s": round(connect_s, 1),
        "idle_cpu_percent": round(cpu_fraction * 100, 2),
        "idle_users_per_core": int(connected / cpu_fraction) if cpu_fraction > 0 else None,
        "memory_per_user_kb": round((rss_after - rss_before) / 1024 / max(connected, 1), 1),
        "threads": proc.num_threads(),
    }


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _timed_load(
    url: str, users: int, spawn_rate: float, seconds: float, workers: int
) -> dict[str, Any]:
    """One `crm-harness load` run; its process tree's CPU-seconds and the run's figures."""
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory(prefix="bench-gen-") as tmp:
        run_dir = Path(tmp) / "run"
        cmd = [sys.executable, "-m", "harness", "load", "--url", url, "--jwt-secret", SECRET,
               "--users", str(users), "--spawn-rate", str(spawn_rate),
               "--duration", f"{seconds:g}s", "--report", str(run_dir)]  # fmt: skip
        if workers:
            cmd += ["--workers", str(workers)]
        before = _children_cpu_s()
        subprocess.run(cmd, capture_output=True, check=False)
        cpu_s = _children_cpu_s() - before
        summary = json.loads((run_dir / "summary.json").read_text())
        # The kernel's count for the Locust processes alone, as the engine recorded it.
        locust_cpu_s = json.loads((run_dir / "run.json").read_text()).get("generator_cpu_s")
    generator = summary.get("generator") or {}
    return {
        "duration_s": seconds,
        "cpu_s": round(cpu_s, 2),
        "locust_cpu_s": locust_cpu_s,
        # The controlling process: plan, node sampler, part-file merge, summary, report.
        "controller_cpu_s": round(cpu_s - locust_cpu_s, 2) if locust_cpu_s else None,
        "deliveries": summary["deliveries"]["rows"],
        "loss_final": summary["loss"]["final"],
        "e2e_p99_ms": summary["latency_ms"]["e2e"]["p99"],
        # What the run reported of itself, to hold against the two-length figure.
        "reported_us_per_delivery": generator.get("cpu_us_per_delivery"),
        "reported_ms_per_user": generator.get("cpu_ms_per_user"),
    }


def _lengths(args: argparse.Namespace, url: str) -> None:
    short, long = sorted(args.lengths)
    runs = [_timed_load(url, args.users, args.spawn_rate, s, args.workers) for s in (short, long)]
    for run in runs:
        print(json.dumps(run), flush=True)
    a, b = runs
    extra = b["deliveries"] - a["deliveries"]
    if extra <= 0:
        print("the longer run delivered no more than the shorter one: no figure", file=sys.stderr)
        return
    per_delivery_s = (b["cpu_s"] - a["cpu_s"]) / extra
    fixed_s = b["cpu_s"] - per_delivery_s * b["deliveries"]
    print(f"generator CPU per delivery {per_delivery_s * 1e6:.0f} µs, fixed part "
          f"{fixed_s:.1f} s = {fixed_s / args.users * 1000:.2f} ms per user "
          f"({args.users} users, runs of {short:g} s and {long:g} s, CPU-seconds of the whole "
          f"`crm-harness load` process tree)")  # fmt: skip
    for part in ("locust_cpu_s", "controller_cpu_s"):
        if a[part] is not None and b[part] is not None:
            slope = (b[part] - a[part]) / extra
            print(
                f"  of which {part.removesuffix('_cpu_s')}: {slope * 1e6:.0f} µs per delivery, "
                f"{(b[part] - slope * b['deliveries']) / args.users * 1000:.2f} ms per user"
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--window", type=float, default=30.0, help="idle seconds measured")
    parser.add_argument("--url", help="server URL (default: start the reference server)")
    parser.add_argument("--child", choices=KINDS, help=argparse.SUPPRESS)
    parser.add_argument(
        "--lengths",
        type=float,
        nargs=2,
        metavar="SECONDS",
        help="two load runs of these durations: CPU per delivery and per user",
    )
    parser.add_argument("--spawn-rate", type=float, default=200.0, help="with --lengths")
    parser.add_argument("--workers", type=int, default=0, help="with --lengths: --workers")
    args = parser.parse_args()
    if args.lengths and args.lengths[0] == args.lengths[1]:
        parser.error("--lengths takes two different durations (their difference is the figure)")
    if args.child:
        print(json.dumps(_child(args.child, args.url, args.users, args.window)))
        return 0
    from harness.load.run_controller import raise_nofile

    raise_nofile(args.users, 0.0)
    server = None
    url = args.url
    if url is None:
        from reference_server.launcher import start_server

        server = start_server(jwt_secret=SECRET)
        url = server.url
    results = []
    try:
        if args.lengths:
            _lengths(args, url)
            return 0
        for kind in KINDS:
            cmd = [sys.executable, __file__, "--child", kind, "--url", url]
            cmd += ["--users", str(args.users), "--window", str(args.window)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if out.returncode != 0:
                print(f"{kind}: failed: {out.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
                continue
            results.append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(json.dumps(results[-1]), flush=True)
    finally:
        if server is not None:
            server.close()
    if len(results) == 2:
        lean, contrib = results
        if lean["idle_users_per_core"] and contrib["idle_users_per_core"]:
            ratio = lean["idle_users_per_core"] / contrib["idle_users_per_core"]
            print(f"idle users per core: lean {lean['idle_users_per_core']}, locust-contrib "
                  f"{contrib['idle_users_per_core']} → {ratio:.1f}x")  # fmt: skip
        print(f"memory per user: lean {lean['memory_per_user_kb']} KiB, locust-contrib "
              f"{contrib['memory_per_user_kb']} KiB")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
