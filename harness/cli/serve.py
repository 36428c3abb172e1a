"""`crm-harness serve`: run the bundled reference server in the foreground (`--nodes N`: a
cluster of N nodes on consecutive ports, sharing `--redis-url` and `--database-url`)."""

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
    parser.add_argument(
        "--nodes", type=int, default=1, help="start N nodes as one cluster (needs --redis-url)"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from reference_server.config import settings_from_args
    from reference_server.runner import serve_forever

    settings = settings_from_args(args)
    if args.nodes != 1:
        from reference_server.cluster import check_cluster_settings, serve_cluster

        check_cluster_settings(args.nodes, settings.redis_url, settings.database_url)
        return serve_cluster(settings, args.nodes, lambda line: print(line, flush=True))
    return serve_forever(settings, PROG, lambda line: print(line, flush=True))
