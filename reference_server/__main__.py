"""`python -m reference_server`: the same server and options as `crm-harness serve`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .exceptions import ServerError

__all__ = ["main"]

PROG = "reference_server"


def main(argv: Sequence[str] | None = None) -> int:
    from .config import add_server_options, settings_from_args
    from .serve_node import serve_forever

    parser = argparse.ArgumentParser(prog=f"python -m {PROG}", description=__doc__)
    add_server_options(parser)
    args = parser.parse_args(argv)
    try:
        settings = settings_from_args(args)
        return serve_forever(settings, PROG, lambda line: print(line, flush=True))
    except ServerError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
