"""Generator cost of users' tokens per user: HS256 vs RS256 vs ES256 (and a token command).

Each simulated user of `crm-harness load` gets its token from `LoadAgent.token()`: minted once
per user (RS256 signs once per user, not per call), then served from the agent until shortly
before its `exp`. This measures the CPU the generator process spends on that per user, with
the key parsed once per process as the load engine does, and checks that the later calls of a
user cost nothing (they are served from the agent).

    .venv/bin/python benchmarks/bench_token_cost.py --users 2000
    .venv/bin/python benchmarks/bench_token_cost.py --users 2000 --token-cmd-users 40

Prints one line per source: CPU µs per user for the first token, for 10 later calls, and the
ratio to HS256. CPU time (time.process_time) of this process; the token command's own CPU is
in its child processes (resource.RUSAGE_CHILDREN), shown apart.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["main"]

_LATER_CALLS = 10
_MINT_SCRIPT = """import json, sys, jwt
key = open(sys.argv[1]).read()
print(jwt.encode(json.load(sys.stdin), key, algorithm="RS256"))
"""


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _measure(name: str, tokens: Any, users: int) -> dict[str, Any]:
    from harness.load.agent import LoadAgent
    from harness.load.process_context import ProcessContext
    from harness.load.workload import Workload

    ctx = ProcessContext(url="http://127.0.0.1:1", tokens=tokens, workload=Workload(),
                         run_id="bench", scenario="team_sync", worker=0, workers=1,
                         profiles=["core"], rest=None)  # fmt: skip
    agents = [LoadAgent(ctx) for _ in range(users)]  # built first: their cost is not tokens'
    children = _children_cpu()
    started = time.process_time()
    for agent in agents:
        agent.token()
    first = time.process_time() - started
    started = time.process_time()
    for _ in range(_LATER_CALLS):
        for agent in agents:
            agent.token()
    later = time.process_time() - started
    return {
        "source": name,
        "users": users,
        "first_us_per_user": round(first / users * 1e6, 1),
        "later_us_per_user": round(later / users * 1e6, 2),
        "command_cpu_ms_per_user": round((_children_cpu() - children) / users * 1e3, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=2000, help="users per key source")
    parser.add_argument("--token-cmd-users", type=int, default=0,
                        help="also time a token command (a Python script signing RS256) for "
                        "this many users (each one a process: keep it small)")  # fmt: skip
    parser.add_argument("--json", action="store_true", help="one JSON object per source")
    args = parser.parse_args()

    from harness.client import CommandTokens, KeyTokens, TokenFactory

    rows = [
        _measure("HS256", TokenFactory("bench-secret-" + "0" * 32), args.users),
        _measure("RS256", KeyTokens.generate("RS256"), args.users),
        _measure("ES256", KeyTokens.generate("ES256"), args.users),
    ]
    if args.token_cmd_users:
        with tempfile.TemporaryDirectory(prefix="bench-token-") as scratch:
            key = Path(scratch) / "rs256.pem"
            key.write_bytes(KeyTokens.generate("RS256").private_pem())
            script = Path(scratch) / "mint.py"
            script.write_text(_MINT_SCRIPT)
            command = CommandTokens(f"{sys.executable} {script} {key}")
            rows.append(_measure("token-cmd", command, args.token_cmd_users))
    base = rows[0]["first_us_per_user"] or 1.0
    for row in rows:
        row["vs_hs256"] = round(row["first_us_per_user"] / base, 1)
        if args.json:
            print(json.dumps(row))
            continue
        extra = (f", command CPU {row['command_cpu_ms_per_user']} ms/user in its processes"
                 if row["source"] == "token-cmd" else "")  # fmt: skip
        print(f"{row['source']:<9} {row['users']:>6} users: first token "
              f"{row['first_us_per_user']:>9} µs CPU/user ({row['vs_hs256']}x HS256), "
              f"{_LATER_CALLS} later calls {row['later_us_per_user']} µs/user{extra}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
