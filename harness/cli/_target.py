"""The target options of every command that talks to a server (`conform`, `load`, `sweep`,
`capacity`): added from the one table (`harness._target_options`), read back into the one
`TargetConnection`."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .._target_options import TARGET_OPTIONS

__all__ = [
    "LoadTarget",
    "add_target_options",
    "announce_target",
    "connection_from_args",
    "load_target_from_args",
    "target_values",
]


def add_target_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "target", "how to reach the server: tokens, TLS, extra headers, Socket.IO path"
    )
    for option in TARGET_OPTIONS:
        group.add_argument(f"--{option.name}", dest=option.dest, **option.add_argument_kwargs())


def announce_target(command: str, urls: Sequence[str], *, nodes: int = 1) -> None:
    """The one line every run starts with: which server it is about to test, so that a run
    without --url does not silently test the bundled server."""
    if urls:
        where = ", ".join(urls)
    else:
        where = "bundled reference server"
        if nodes > 1:
            where += f" ({nodes}-node local cluster)"
    print(f"crm-harness {command}: target {where}", flush=True)


def target_values(args: argparse.Namespace) -> dict[str, Any]:
    return {option.dest: getattr(args, option.dest, None) for option in TARGET_OPTIONS}


def connection_from_args(
    args: argparse.Namespace, urls: Sequence[str], *, tokens: Any = None
) -> Any:
    """The run's `TargetConnection`; UsageError (one line) for a bad value. `--insecure` is
    warned about here, on every run."""
    from harness.client import INSECURE_WARNING, target_connection

    connection = target_connection(urls, target_values(args), tokens=tokens)
    if connection.options.insecure:
        print(INSECURE_WARNING, file=sys.stderr)
    return connection


@dataclass(frozen=True, slots=True)
class LoadTarget:
    """The target of a command that runs load (`load`, `sweep`, `capacity`)."""

    urls: tuple[str, ...]
    jwt_secret: str | None  # --jwt-secret or env JWT_SECRET
    values: dict[str, Any]  # every target option, by dest


def load_target_from_args(args: argparse.Namespace) -> LoadTarget:
    """With --url, the token source (an option or env JWT_SECRET) and the TLS options are
    checked, and --insecure warned about, before anything starts."""
    from harness.client import SECRET_ENV

    urls = tuple(url.rstrip("/") for url in args.url or ())
    if urls:
        connection_from_args(args, urls)
    secret = getattr(args, "jwt_secret", None) or os.environ.get(SECRET_ENV)
    return LoadTarget(urls, secret, target_values(args))
