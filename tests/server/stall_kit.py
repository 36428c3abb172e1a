"""A reference server node started through `stall_node.py`, whose loop a test stalls (the test
side of that entry point)."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx

from reference_server.launcher import RunningServer

__all__ = ["StallableNode"]

STALL_NODE = Path(__file__).with_name("stall_node.py")
_STALL_PATH = "/_test/stall"  # stall_node.STALL_PATH (that module imports the whole server)


class StallableNode(RunningServer):
    """`RunningServer` whose event loop `stall()` blocks in turns (see stall_node)."""

    def command(self) -> list[str]:
        return [sys.executable, str(STALL_NODE), *self.settings.to_cli_args()]

    def stall(self, seconds: float, turn_ms: float, *, drop: bool = False) -> None:
        """Block the node's loop `turn_ms` at a time for `seconds` (then, with `drop`, close
        every socket it holds); returns at once."""
        body = {"seconds": seconds, "turn_ms": turn_ms, "drop": drop}
        answer = httpx.post(f"{self.url}{_STALL_PATH}", json=body, timeout=10)
        answer.raise_for_status()
        assert answer.json() == body, answer.text
