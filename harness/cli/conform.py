"""`crm-harness conform`: check a server against the spec and report verdicts by requirement.

Without --url it starts the bundled reference server (short collab/heartbeat settings), checks
it and stops it (with --jwt-private-key, it verifies that key's tokens). Exit 0: no MUST
failed; 1: a MUST failed; 2: target unreachable or not a CRM server, no token source, or bad
options.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shlex
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .._exceptions import TargetError, UsageError
from ._target import add_target_options, announce_target, connection_from_args, target_values

__all__ = ["BUNDLED_LIMITS", "add_parser", "run"]

# The bundled server runs with short timings so every timing check fits in the run (INF-2:
# the suite reads them back from the info document). pingTimeout stays 5 s: with 1 s, a client
# starved of CPU (a busy CI machine, the fuzzers' case generation) missed a pong and was
# dropped mid-check; TRN-3's silent-client check then takes 7 s instead of 3.
BUNDLED_LIMITS: dict[str, Any] = {
    "replayWindowEvents": 100,
    "replayWindowSeconds": 4,
    "editLockTtlSeconds": 2,
    "presenceGraceSeconds": 1,
}
BUNDLED_HEARTBEAT = (2000, 5000)


def add_parser(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "conform", help="check a server against the spec", description=__doc__
    )
    parser.add_argument(
        "--url", action="append", default=[], help="server base URL; repeat for cluster nodes"
    )
    parser.add_argument(
        "--profile", help="profiles to check, e.g. core,metrics (default: all declared)"
    )
    parser.add_argument(
        "--req",
        action="append",
        default=[],
        metavar="ID",
        help="only this requirement id (repeatable, or ID,ID), e.g. EVT-1",
    )
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
    parser.add_argument(
        "--jwks-url",
        metavar="URL",
        help="the target's JWKS: where the algorithm-confusion check finds its public key "
        "when it has no --jwt-private-key",
    )
    add_target_options(parser)
    parser.set_defaults(run=run)


def _split(value: str | list[str] | None) -> list[str] | None:
    """`A,B`, or the values of a repeated option, each of which may be `A,B`."""
    values = value if isinstance(value, list) else [value or ""]
    parts = [part.strip() for v in values for part in v.split(",") if part.strip()]
    return parts or None


def _validate(args: argparse.Namespace) -> tuple[list[str] | None, list[str] | None]:
    from harness.spec import REQUIREMENTS, Profile

    profiles, ids = _split(args.profile), _split(args.req)
    known = {p.value for p in Profile}
    bad = [p for p in profiles or [] if p not in known]
    if bad:
        raise UsageError(f"unknown profile {', '.join(bad)} (known: {', '.join(sorted(known))})")
    unknown = [i for i in ids or [] if i not in REQUIREMENTS]
    if unknown:
        raise UsageError(
            f"unknown requirement id {', '.join(unknown)} (see `crm-harness spec` for the ids)"
        )
    if args.fuzz_seconds is not None and args.fuzz_seconds < 0:
        raise UsageError("--fuzz-seconds must be 0 or more")
    for name in ("quiet_period", "max_wait"):
        value = getattr(args, name)
        if value is not None and value <= 0:
            raise UsageError(f"--{name.replace('_', '-')} must be positive")
    return profiles, ids


@contextmanager
def _bundled_server(tokens: Any) -> Iterator[tuple[str, Callable[[], None]]]:
    """The reference server, verifying what `tokens` mints: its secret, or its key's public
    half (RS256/ES256)."""
    from harness.bundled_server import bundled_server, verifying
    from harness.spec import Heartbeat, Limits

    bundled = bundled_server(alternative="or check a running server with --url")
    heartbeat = Heartbeat(*BUNDLED_HEARTBEAT)
    with tempfile.TemporaryDirectory(prefix="crm-conform-") as scratch:
        server = bundled.start_server(
            heartbeat=heartbeat, limits=Limits(**BUNDLED_LIMITS), **verifying(tokens, Path(scratch))
        )

        def crash_and_restart() -> None:
            server.kill()  # a crash, not a graceful stop: CLU-2 covers both
            server.start()

        try:
            yield server.url, crash_and_restart
        finally:
            server.close()


_FAILURE_PREFIX = "harness.conformance.failures.CheckFailure: "


def _progress(line: Any) -> None:
    ids = " ".join(line.requirements)
    text = f"[{line.index:>2}/{line.total}] {line.outcome:<8} {ids:<18} {line.name}"
    text += f" ({line.duration_s:.1f} s)"
    if line.outcome != "passed" and line.message:
        # The title, then what was expected and observed (a CheckFailure's next lines): a CI log
        # often is all a user has of a failure that did not repeat.
        for shown in line.message.removeprefix(_FAILURE_PREFIX).splitlines()[:3]:
            text += f"\n           {shown.strip()[:200]}"
    print(text, file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    profiles, ids = _validate(args)
    import pytest

    from harness.conformance import run as run_suite
    from harness.conformance._target import load_target

    fuzz_seed = args.fuzz_seed if args.fuzz_seed is not None else secrets.randbelow(2**31)
    started = time.monotonic()
    announce_target("conform", args.url)
    with _target(args) as (connection, restart):
        load_target(connection)  # pre-flight: one clear line if unreachable
        if args.fuzz_seconds != 0:
            print(f"crm-harness conform: fuzz seed {fuzz_seed} (--fuzz-seed {fuzz_seed} draws "
                  "the same generated input again)", file=sys.stderr)  # fmt: skip
        outcome = run_suite(
            connection,
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
            jwks_url=args.jwks_url,
            rerun=rerun_base(args, fuzz_seed),
        )
    if outcome.pytest_exit_code == int(pytest.ExitCode.INTERRUPTED):
        raise KeyboardInterrupt  # Ctrl-C inside pytest: the bundled server is already stopped
    if outcome.result is None:
        detail = outcome.errors[0] if outcome.errors else "no result"
        raise TargetError(f"the suite could not run: {detail.splitlines()[0][:300]}")
    summary = " · ".join(f"{k} {v}" for k, v in outcome.summary.items())
    where = f" — report in {args.report}" if args.report else ""
    print(f"conformance: {summary} ({time.monotonic() - started:.0f} s){where}")
    _print_nodes(outcome.result.nodes)
    failed = [rid for rid, v in outcome.verdicts().items() if v.value == "fail"]
    if failed:
        print(f"MUST failed: {', '.join(failed)}")
        return 1
    return 0


def _print_nodes(rows: dict[str, dict[str, Any]]) -> None:
    """Several nodes: each one's /metrics over the run beside their sum (the report's table)."""
    if len(rows) < 3:  # one node and its sum say the same
        return
    from harness.conformance import NODE_COLUMNS
    from harness.reporting import fmt_number, text_table

    cells = [(node, *(fmt_number(row.get(k)) for k in NODE_COLUMNS)) for node, row in rows.items()]
    print("\n".join(text_table(("node", *NODE_COLUMNS.values()), cells)))


# Options whose value is a secret: the rerun command names where to find it, never the value.
_SECRET_VALUES = {"jwt_secret": '"$JWT_SECRET"'}
_SECRET_HEADER_WORDS = ("authorization", "cookie", "key", "token", "secret")


def rerun_base(args: argparse.Namespace, fuzz_seed: int) -> str:
    """This run's command line without --req, --report and --junit (a report adds
    `--req ID`): the same target, options and fuzz seed, with no secret written out."""
    from .._target_options import TARGET_OPTIONS

    words: list[str] = ["crm-harness", "conform"]
    for url in args.url:
        words += ["--url", shlex.quote(url)]
    plain = {"--profile": args.profile, "--restart-cmd": args.restart_cmd, "-k": args.keyword,
             "--quiet-period": args.quiet_period, "--max-wait": args.max_wait,
             "--fuzz-seconds": args.fuzz_seconds, "--jwks-url": args.jwks_url}  # fmt: skip
    for flag, value in plain.items():
        if value is not None:
            words += [flag, shlex.quote(f"{value:g}" if isinstance(value, float) else str(value))]
    if args.fuzz_seconds != 0:
        words += ["--fuzz-seed", str(fuzz_seed)]
    for option in TARGET_OPTIONS:
        value = getattr(args, option.dest, None)
        if not value:
            continue
        flag = f"--{option.name}"
        if option.kind == "flag":
            words.append(flag)
        elif option.dest in _SECRET_VALUES:
            words += [flag, _SECRET_VALUES[option.dest]]
        else:
            for item in value if isinstance(value, list) else [value]:
                words += [flag, shlex.quote(_hide_header_value(option.dest, str(item)))]
    return " ".join(words)


def _hide_header_value(dest: str, value: str) -> str:
    name, sep, _ = value.partition(":")
    if dest == "header" and sep and any(w in name.lower() for w in _SECRET_HEADER_WORDS):
        return f"{name}: <elided>"
    return value


@contextmanager
def _target(args: argparse.Namespace) -> Iterator[tuple[Any, Callable[[], None] | None]]:
    """The connection to check, and an in-process restart for the bundled server. Every
    option is checked before anything starts."""
    if args.url:
        yield connection_from_args(args, args.url), None
        return
    from harness.bundled_server import NO_IDENTITY_PROVIDER
    from harness.client import SECRET_ENV, TokenFactory, token_source

    values = target_values(args)
    if values.get("token_cmd"):
        raise UsageError(NO_IDENTITY_PROVIDER)
    named = ("jwt_secret", "jwt_private_key", "jwt_alg", "jwt_kid")
    if any(values.get(name) for name in named) or os.environ.get(SECRET_ENV):
        tokens = token_source(values)
    else:
        tokens = TokenFactory(secrets.token_hex(32))  # no source given: a fresh secret
    placeholder = "http://127.0.0.1:1"  # the options are checked before the server starts
    connection_from_args(args, [placeholder], tokens=tokens)
    with _bundled_server(tokens) as (url, restart):
        yield connection_from_args(args, [url], tokens=tokens), restart
