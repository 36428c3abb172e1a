"""`crm-harness serve`: run the bundled reference server in the foreground (`--nodes N`: a
cluster of N nodes on consecutive ports, sharing `--redis-url` and `--database-url`)."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_parser"]

PROG = "crm-harness serve"


def add_parser(subparsers: Any) -> None:
    from harness.bundled_server import bundled_server, unavailable_reason

    reason = unavailable_reason()
    description = __doc__ if reason is None else f"{__doc__}\n\nNot available here: {reason}."
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "serve", help="run the reference server", description=description
    )
    if reason is not None:
        # Without the server's options, any option is taken so that the answer is the one
        # line saying what to install, not "unrecognized arguments".
        parser.set_defaults(run=_unavailable, accepts_unknown_options=True)
        return
    bundled_server().add_serve_options(parser)
    parser.add_argument(
        "--nodes", type=int, default=1, help="start N nodes as one cluster (needs --redis-url)"
    )
    parser.set_defaults(run=run)


def _unavailable(args: argparse.Namespace) -> int:
    from harness.bundled_server import bundled_server

    bundled_server()  # raises MissingExtra: the one line naming the extra
    raise AssertionError("unreachable")


def run(args: argparse.Namespace) -> int:
    from harness.bundled_server import bundled_server

    server = bundled_server(cluster=args.nodes != 1)
    return server.serve(args, args.nodes, PROG, lambda line: print(line, flush=True))
