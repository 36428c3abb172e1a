"""`crm-harness conform`: check a server against the spec and report verdicts by requirement.

Without --url it starts the bundled reference server (short collab/heartbeat settings), checks
it and stops it. Exit 0: no MUST failed; 1: a MUST failed; 2: target unreachable or not a CRM
server, missing secret, or bad options.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from .._exceptions import TargetError, UsageError

__all__ = ["BUNDLED_LIMITS", "add_parser", "run"]

# The bundled server runs with short timings so every timing check fits in the run (INF-2:
# the suite reads them back from the info document).
BUNDLED_LIMITS: dict[str, Any] = {
    "replayWindowEvents": 100,
    "replayWindowSeconds": 4,
    "editLockTtlSeconds": 2,
    "presenceGraceSeconds": 1,
}
BUNDLED_HEARTBEAT = (2000, 1000)


def add_parser(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "conform", help="check a server against the spec", description=__doc__
    )
    parser.add_argument(
        "--url", action="append", default=[], help="server base URL; repeat for cluster nodes"
    )
    parser.add_argument("--jwt-secret", help="HS256 secret the target trusts (env JWT_SECRET)")
    parser.add_argument(
        "--profile", help="profiles to check, e.g. core,metrics (default: all declared)"
    )
    parser.add_argument("--req", help="only these requirement ids, e.g. EVT-1,RED-1")
    parser.add_argument("--report", metavar="DIR", help="write report.json and report.html here")
    parser.add_argument("--junit", metavar="FILE", help="write JUnit XML, one case per id")
    parser.add_argument("--restart-cmd", help="shell command that restarts the target (CLU-2)")
    parser.add_argument("-k", dest="keyword", help="pytest -k expression over check names")
    parser.add_argument("--quiet-period", type=float, help="seconds negative checks listen (0.4)")
    parser.add_argument("--max-wait", type=float, help="longest timing wait before not-run (25)")
    parser.add_argument(
        "--fuzz-seconds", type=float,
        help="time the fuzz checks spend on generated input, in all (10; 0 turns them off)",
    )  # fmt: skip
    parser.add_argument("--fuzz-seed", type=int, help="seed of the fuzz input (default: random)")
    parser.set_defaults(run=run)


def _split(value: str | None) -> list[str] | None:
    if not value:
        return None
    return [part.strip() for part in value.split(",") if part.strip()]


def _validate(args: argparse.Namespace) -> tuple[list[str] | None, list[str] | None]:
    from harness.spec import REQUIREMENTS, Profile

    profiles, ids = _split(args.profile), _split(args.req)
    known = {p.value for p in Profile}
    bad = [p for p in profiles or [] if p not in known]
    if bad:
        raise UsageError(f"unknown profile {', '.join(bad)} (known: {', '.join(sorted(known))})")
    unknown = [i for i in ids or [] if i not in REQUIREMENTS]
    if unknown:
        raise UsageError(f"unknown requirement id {', '.join(unknown)}")
    if args.fuzz_seconds is not None and args.fuzz_seconds < 0:
        raise UsageError("--fuzz-seconds must be 0 or more")
    for name in ("quiet_period", "max_wait"):
        value = getattr(args, name)
        if value is not None and value <= 0:
            raise UsageError(f"--{name.replace('_', '-')} must be positive")
    return profiles, ids


@contextmanager
def _bundled_server(secret: str) -> Iterator[tuple[str, Callable[[], None]]]:
    from harness.bundled_server import bundled_server
    from harness.spec import Heartbeat, Limits

    bundled = bundled_server(alternative="or check a running server with --url")
    heartbeat = Heartbeat(*BUNDLED_HEARTBEAT)
    print("crm-harness conform: starting the bundled reference server", file=sys.stderr)
    server = bundled.start_server(
        jwt_secret=secret, heartbeat=heartbeat, limits=Limits(**BUNDLED_LIMITS)
    )

    def crash_and_restart() -> None:
        server.kill()  # a crash, not a graceful stop: CLU-2 covers both
        server.start()

    try:
        yield server.url, crash_and_restart
    finally:
        server.close()


def _progress(line: Any) -> None:
    ids = " ".join(line.requirements)
    text = f"[{line.index:>2}/{line.total}] {line.outcome:<8} {ids:<18} {line.name}"
    text += f" ({line.duration_s:.1f} s)"
    if line.outcome != "passed" and line.message:
        text += f"\n           {line.message[:160]}"
    print(text, file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    profiles, ids = _validate(args)
    secret = args.jwt_secret or os.environ.get("JWT_SECRET")
    if args.url and not secret:
        raise UsageError("--jwt-secret (or JWT_SECRET) is required with --url")
    import pytest

    from harness.conformance import run as run_suite
    from harness.conformance._target import load_target

    fuzz_seed = args.fuzz_seed if args.fuzz_seed is not None else secrets.randbelow(2**31)
    started = time.monotonic()
    with _target(args.url, secret) as (urls, used_secret, restart):
        load_target(urls, used_secret)  # pre-flight: one clear line if unreachable
        if args.fuzz_seconds != 0:
            print(f"crm-harness conform: fuzz seed {fuzz_seed} (--fuzz-seed {fuzz_seed} draws "
                  "the same generated input again)", file=sys.stderr)  # fmt: skip
        outcome = run_suite(
            urls,
            used_secret,
            profiles=profiles,
            requirement_ids=ids,
            report_dir=args.report,
            junit_path=args.junit,
            restart_cmd=args.restart_cmd,
            restart=restart if not args.restart_cmd else None,
            keyword=args.keyword,
            quiet_s=args.quiet_period,
            max_wait_s=args.max_wait,
            fuzz_seconds=args.fuzz_seconds,
            fuzz_seed=fuzz_seed,
            progress=_progress,
        )
    if outcome.pytest_exit_code == int(pytest.ExitCode.INTERRUPTED):
        raise KeyboardInterrupt  # Ctrl-C inside pytest: the bundled server is already stopped
    if outcome.result is None:
        detail = outcome.errors[0] if outcome.errors else "no result"
        raise TargetError(f"the suite could not run: {detail.splitlines()[0][:300]}")
    summary = " · ".join(f"{k} {v}" for k, v in outcome.summary.items())
    where = f" — report in {args.report}" if args.report else ""
    print(f"conformance: {summary} ({time.monotonic() - started:.0f} s){where}")
    failed = [rid for rid, v in outcome.verdicts().items() if v.value == "fail"]
    if failed:
        print(f"MUST failed: {', '.join(failed)}")
        return 1
    return 0


@contextmanager
def _target(
    urls: list[str], secret: str | None
) -> Iterator[tuple[list[str], str, Callable[[], None] | None]]:
    if urls:
        assert secret is not None
        yield urls, secret, None
        return
    used = secret or secrets.token_hex(32)
    with _bundled_server(used) as (url, restart):
        yield [url], used, restart
