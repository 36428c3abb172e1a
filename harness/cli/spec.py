"""`crm-harness spec`: the contract in the ecosystem's formats, generated from harness.spec.

    crm-harness spec --format openapi                 # OpenAPI 3.1 (REST), YAML on stdout
    crm-harness spec --format asyncapi --json -o asyncapi.json

The same documents are checked in under docs/contract/; a test keeps them up to date.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .._exceptions import UsageError

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "spec", help="print the contract as OpenAPI or AsyncAPI", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    parser.add_argument(
        "--format", required=True, choices=("openapi", "asyncapi"),
        help="openapi: OpenAPI 3.1 for the REST API; asyncapi: AsyncAPI 3.0 for Socket.IO",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="JSON instead of YAML")
    parser.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from harness.contract import render

    text = render(args.format, as_json=args.json)
    if not args.output:
        sys.stdout.write(text)
        return 0
    target = Path(args.output)
    if not target.parent.is_dir():
        raise UsageError(f"--output: no such directory {target.parent}")
    target.write_text(text, encoding="utf-8")
    print(f"crm-harness spec: wrote {target}", file=sys.stderr)
    return 0
