"""`crm-harness serve`: run the bundled reference server (one node) in the foreground."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_parser"]

PROG = "crm-harness serve"


def add_parser(subparsers: Any) -> None:
    from reference_server.config import add_server_options

    parser: argparse.ArgumentParser = subparsers.add_parser(
        "serve", help="run the reference server", description=__doc__
    )
    add_server_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from reference_server.config import settings_from_args
    from reference_server.runner import serve_forever

    settings = settings_from_args(args)
    return serve_forever(settings, PROG, lambda line: print(line, flush=True))
