"""10,000 concurrent users against the reference server with the default workload.

Ramps up at --spawn-rate, holds every user connected for --hold seconds (default 60) with the
default workload (a change per user every 50 s: ≈200 changes/s, ≈2,000 deliveries/s at
10,000 users in teams of 10), then does the closing sync. Prints the figures that matter:
final loss, achieved changes/s and deliveries/s, latency percentiles, generator health.

    .venv/bin/python benchmarks/bench_load_10k.py                      # 10,000 users
    .venv/bin/python benchmarks/bench_load_10k.py --users 2000 --hold 30
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

__all__ = ["main"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--spawn-rate", type=float, default=100.0)
    parser.add_argument("--hold", type=float, default=60.0, help="seconds at full load")
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--url", help="server URL (default: start the reference server)")
    parser.add_argument("--jwt-secret", help="with --url: the server's JWT secret")
    parser.add_argument("--report", type=Path, help="run directory")
    args = parser.parse_args()

    from harness.load import DEFAULT_JWT_SECRET, LoadConfig, Workload, run_load

    ramp = args.users / args.spawn_rate
    config = LoadConfig(
        users=args.users,
        spawn_rate=args.spawn_rate,
        duration_s=ramp + args.hold,
        url=args.url,
        jwt_secret=args.jwt_secret or DEFAULT_JWT_SECRET,
        workers=args.workers,
        report_dir=args.report or Path("reports") / time.strftime("bench-load-%Y%m%d-%H%M%S"),
        workload=Workload(final_sync_timeout_s=120.0),
    )
    run_dir = run_load(config)
    s = json.loads((run_dir / "summary.json").read_text())
    gen = s["generator"]
    figures = {
        "users": s["users"],
        "connected_max": gen.get("connected_users_max"),
        "connect_errors": s["connect_errors"],
        "ramp_s": round(ramp, 1),
        "hold_s": args.hold,
        "changes_per_s": s["changes_per_s"],
        "deliveries_per_s": s["deliveries_per_s"],
        "deliveries": s["deliveries"],
        "loss": s["loss"],
        "duplicates": s["duplicates"],
        "leaks": s["isolation_leaks"] + s["redaction_leaks"],
        "e2e_ms": s["latency_ms"]["e2e"],
        "fanout_ms": s["latency_ms"]["fanout"],
        "bytes_per_update_median": s["bytes_per_update"]["median"],
        "steady_state": s["steady_state"],
        "disconnects": s["disconnects"],
        "connect_error_reasons": s["connect_error_reasons"],
        "generator": gen,
        "run_dir": str(run_dir),
    }
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
