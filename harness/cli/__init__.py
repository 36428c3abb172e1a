"""`crm-harness`: one entry point, one module per subcommand.

Each subcommand module exposes `add_parser(subparsers) -> None`, which sets `run` (a function
of the parsed args returning the exit code) with `set_defaults(run=...)`; it keeps heavy imports
inside `run` so that `crm-harness --help` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from types import ModuleType

from .._exceptions import HarnessError

__all__ = ["main"]

# Order is the order `--help` lists them in.
_COMMANDS: tuple[str, ...] = (
    "serve",
    "conform",
    "load",
    "report",
    "compare",
    "sweep",
    "capacity",
    "spec",
)


def _command_modules() -> list[ModuleType]:
    modules = []
    for name in _COMMANDS:
        try:
            modules.append(importlib.import_module(f"{__name__}.{name}"))
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
    return modules


class _Parser(argparse.ArgumentParser):
    """argparse exits 2 on bad options already; this keeps its message to one line."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"crm-harness: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="crm-harness", description=__doc__.splitlines()[0] if __doc__ else None)
    from .. import __version__

    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for module in _command_modules():
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown and not getattr(args, "accepts_unknown_options", False):
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    try:
        code: int = args.run(args)
    except HarnessError as exc:
        print(f"crm-harness {args.command}: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"crm-harness {args.command}: interrupted", file=sys.stderr)
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
