"""What one SERVER_BUSY refusal (LIM-6) costs the node: server CPU per refused connect.

Starts the reference server with a budget of one socket, holds that socket, then makes
--refusals connects over the load engine's own WebSocket client (--concurrency at a time),
each refused SERVER_BUSY, and prints the server's CPU-seconds (user + system, from
/proc/PID/stat) per refusal; and, for comparison, what one connect taken and closed at once
costs a node without a budget (--accepted of them).

    .venv/bin/python benchmarks/bench_refusal_cost.py --refusals 3000

Why it matters: under overload every refused user comes back after retryAfterMs; the node
must refuse all of them while it serves the sockets it holds (docs/benchmarks.md, Overload).
Run it under `flock /work/bench.lock` on a shared machine, with the load average next to it.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import time
from typing import Any

__all__ = ["main"]


def _cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _connects(url: str, tokens: list[str], concurrency: int) -> dict[str, int]:
    """A connect per token, `concurrency` at a time; each closed at once. Outcomes by code."""
    import gevent
    from gevent.pool import Pool

    from harness.load.wire import LeanSocket
    from harness.load.wire_errors import ConnectRefused, WireError

    outcomes: dict[str, int] = {}

    def one(token: str) -> None:
        sock = LeanSocket(url, lambda *_: None)
        try:
            sock.connect(token, timeout=30.0)
            code = "connected"
        except ConnectRefused as exc:
            code = exc.code or "refused"
        except WireError:
            code = "error"
        sock.close()
        outcomes[code] = outcomes.get(code, 0) + 1

    pool = Pool(concurrency)
    pool.map(one, tokens)
    gevent.sleep(0.5)  # the closes reach the server before its CPU is read
    return outcomes


def _per_connect(url: str, pid: int, tokens: list[str], concurrency: int) -> dict[str, Any]:
    n = len(tokens)
    before, t0 = _cpu_s(pid), time.perf_counter()
    outcomes = _connects(url, tokens, concurrency)
    cpu, wall = _cpu_s(pid) - before, time.perf_counter() - t0
    return {"connects": n, "outcomes": outcomes, "server_cpu_s": round(cpu, 3),
            "server_cpu_us_per_connect": round(cpu / n * 1e6),
            "wall_s": round(wall, 2)}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--refusals", type=int, default=3000)
    parser.add_argument("--accepted", type=int, default=500, help="valid connects, to compare")
    parser.add_argument("--concurrency", type=int, default=20)
    args = parser.parse_args()

    # No monkey-patching: the load engine's client uses gevent's sockets by itself, and a
    # patched process hung starting the server's subprocess.
    from harness.client import Org, TokenFactory
    from harness.load.wire import LeanSocket
    from reference_server.config import ServerSettings
    from reference_server.launcher import start_server
    from reference_server.shedding import Shedding

    secret = secrets.token_hex(16)
    factory, org = TokenFactory(secret), Org()
    # A user per connect: a user's own sockets are capped (maxConnectionsPerUser).
    tokens = [
        factory.mint(org.agent(), ttl_seconds=3600)
        for _ in range(max(args.refusals, args.accepted) + 1)
    ]
    settings = ServerSettings(port=0, jwt_secret=secret)
    with start_server(settings) as node:  # no budget: every connect is taken
        assert node.pid is not None
        accepted = _per_connect(node.url, node.pid, tokens[1 : args.accepted + 1], args.concurrency)
    settings = ServerSettings(port=0, jwt_secret=secret, shedding=Shedding(max_connections=1))
    with start_server(settings) as node:
        assert node.pid is not None
        held = LeanSocket(node.url, lambda *_: None)
        held.connect(tokens[0])  # the node is at its budget from here
        refused = _per_connect(node.url, node.pid, tokens[1:], args.concurrency)
        held.close()
    print(json.dumps({"accepted_then_closed": accepted, "refused_busy": refused}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
