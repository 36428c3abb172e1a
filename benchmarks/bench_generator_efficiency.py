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
"""

from __future__ import annotations

import argparse
import json
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--window", type=float, default=30.0, help="idle seconds measured")
    parser.add_argument("--url", help="server URL (default: start the reference server)")
    parser.add_argument("--child", choices=KINDS, help=argparse.SUPPRESS)
    args = parser.parse_args()
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
