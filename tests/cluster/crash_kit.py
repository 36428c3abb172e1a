"""Cluster nodes started through `crash_node.py`: crash points between commit and publish, and
in the middle of an outbox recovery (the test side)."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from reference_server.launcher import RunningServer

__all__ = ["CrashJournal", "CrashableNode", "HeldEvent"]

CRASH_NODE = Path(__file__).with_name("crash_node.py")
# The same names as crash_node.py's (that module imports the whole server: not imported here).
_CRASH_PATH = "/_test/crash"
_RELAY_PATH = "/_test/relay"
_JOURNAL_NAME = "crash.json"


@dataclass(frozen=True, slots=True)
class HeldEvent:
    event_id: str
    stream: str
    seq: int
    name: str


@dataclass(frozen=True, slots=True)
class CrashJournal:
    """What a node wrote just before it killed itself: the events it held (before-publish) or
    published (mid-recovery), and the wall-clock time of the crash."""

    point: str
    crashed_at: float
    events: tuple[HeldEvent, ...]


class CrashableNode(RunningServer):
    """A cluster node whose crash points a test arms over HTTP (`start_cluster(node_class=…)`)."""

    def command(self) -> list[str]:
        return [sys.executable, str(CRASH_NODE), *self.settings.to_cli_args()]

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        answer = httpx.post(f"{self.url}{path}", json=body, timeout=5)
        answer.raise_for_status()
        result: dict[str, Any] = answer.json()
        return result

    def arm(self, point: str, events: int) -> None:
        """`before-publish` or `mid-recovery`, dying after `events` events (see crash_node)."""
        assert self._post(_CRASH_PATH, {"point": point, "events": events})["armed"] == point

    def pause_relay(self, paused: bool = True) -> None:
        assert self._post(_RELAY_PATH, {"paused": paused})["paused"] is paused

    def wait_dead(self, within: float) -> CrashJournal:
        """Wait for the process to kill itself; its journal. AssertionError past `within`."""
        deadline = time.monotonic() + within
        while self.running:
            assert time.monotonic() < deadline, f"{self.settings.node_name} did not crash"
            time.sleep(0.05)
        self.kill()  # reaps the process and closes its log; the node can start() again
        data = json.loads((Path(self.settings.data_dir) / _JOURNAL_NAME).read_text())
        events = tuple(
            HeldEvent(e["eventId"], e["stream"], int(e["seq"]), e["name"]) for e in data["events"]
        )
        return CrashJournal(data["point"], float(data["crashedAt"]), events)
