"""Test-only entry point: a cluster node that can be made to die between commit and publish.

    python tests/cluster/crash_node.py [reference server options]
    POST /_test/crash {"point": "before-publish", "events": 3}
    POST /_test/crash {"point": "mid-recovery", "events": 1}
    POST /_test/relay {"paused": true}

`before-publish`: from now on the node's changes commit but their events are never published
(the request hangs, as in a process that is about to die); once `events` events are held, or
`HOLD_SECONDS` after the first, the process kills itself with SIGKILL. `mid-recovery`: the
node's outbox relay kills the process right after it has published `events` overdue events.
Before dying, the node writes what it held or published, and when, to `crash.json` in its data
dir (`CrashJournal`). A paused relay neither holds the lease nor publishes anything overdue; a
node armed before-publish keeps a lease it holds (renewing it) but relays nothing.

The crash points and the switch exist only in this script's process: the real entry points
(`python -m reference_server`, `crm-harness serve`) have none.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
if str(_HERE.parents[1]) not in sys.path:
    sys.path.insert(0, str(_HERE.parents[1]))  # the repository

from fastapi import APIRouter, FastAPI, Request  # noqa: E402

from reference_server import app as app_module  # noqa: E402
from reference_server.realtime.outbox import RELAY_LEASE, OutboxRelay  # noqa: E402
from reference_server.store.base import StoredEvent  # noqa: E402

__all__ = ["CRASH_PATH", "JOURNAL_NAME", "RELAY_PATH"]

CRASH_PATH = "/_test/crash"
RELAY_PATH = "/_test/relay"
JOURNAL_NAME = "crash.json"
HOLD_SECONDS = 1.0
POINTS = ("before-publish", "mid-recovery")


def _option(argv: Sequence[str], name: str) -> str | None:
    for index, arg in enumerate(argv):
        if arg == name and index + 1 < len(argv):
            return argv[index + 1]
        if arg.startswith(f"{name}="):
            return arg.split("=", 1)[1]
    return None


class _Switch:
    def __init__(self) -> None:
        self.point: str | None = None
        self.events = 0
        self.relay_paused = False
        self.journal: list[dict[str, Any]] = []
        self.data_dir = Path(_option(sys.argv[1:], "--data-dir") or ".")

    def note(self, event: StoredEvent) -> None:
        self.journal.append({"eventId": event.event_id, "stream": event.stream,
                             "seq": event.seq, "name": event.name})  # fmt: skip

    def die(self) -> None:
        """Write the journal, then SIGKILL: no handler, no flush, no goodbye (a crash)."""
        record = {"point": self.point, "crashedAt": time.time(), "events": self.journal}
        (self.data_dir / JOURNAL_NAME).write_text(json.dumps(record))
        os.kill(os.getpid(), signal.SIGKILL)


SWITCH = _Switch()


def _install_crash_points() -> None:
    publish, recover, tick = OutboxRelay.publish, OutboxRelay._recover, OutboxRelay.tick

    async def publish_or_hold(self: OutboxRelay, events: Sequence[StoredEvent]) -> None:
        if SWITCH.point != "before-publish":
            await publish(self, events)
            return
        if not SWITCH.journal:
            asyncio.get_running_loop().call_later(HOLD_SECONDS, SWITCH.die)
        for event in events:
            SWITCH.note(event)
        if len(SWITCH.journal) >= SWITCH.events:
            SWITCH.die()
        await asyncio.Event().wait()  # committed, never published: the process dies first

    async def recover_then_die(self: OutboxRelay, event: StoredEvent) -> int:
        sent = await recover(self, event)
        if SWITCH.point == "mid-recovery" and sent:
            SWITCH.note(event)
            if len(SWITCH.journal) >= SWITCH.events:
                SWITCH.die()
        return sent

    async def tick_unless_paused(self: OutboxRelay) -> None:
        if SWITCH.relay_paused:
            await self.forget_settled()
            await self.leases.release_lease(RELAY_LEASE)
            return
        if SWITCH.point == "before-publish":
            # About to crash: it must not relay its own held events, but a lease it holds it
            # keeps until it dies, as a crashing holder would.
            await self.forget_settled()
            await self.leases.hold_lease(RELAY_LEASE, self.timings.lease_seconds)
            return
        await tick(self)

    OutboxRelay.publish = publish_or_hold  # type: ignore[method-assign]
    OutboxRelay._recover = recover_then_die  # type: ignore[method-assign]
    OutboxRelay.tick = tick_unless_paused  # type: ignore[method-assign]


def _with_switch(install: Callable[..., Any]) -> Callable[..., Any]:
    def patched(api: FastAPI, *rest: Any) -> Any:
        router = APIRouter()

        @router.post(CRASH_PATH)
        async def arm(request: Request) -> dict[str, Any]:
            wanted = await request.json()
            if wanted.get("point") not in POINTS or int(wanted.get("events", 0)) < 1:
                return {"armed": None}
            SWITCH.journal.clear()
            (SWITCH.data_dir / JOURNAL_NAME).unlink(missing_ok=True)
            SWITCH.point, SWITCH.events = wanted["point"], int(wanted["events"])
            return {"armed": SWITCH.point, "events": SWITCH.events}

        @router.post(RELAY_PATH)
        async def relay(request: Request) -> dict[str, Any]:
            SWITCH.relay_paused = bool((await request.json()).get("paused"))
            return {"paused": SWITCH.relay_paused}

        api.include_router(router)
        return install(api, *rest)

    return patched


def main() -> int:
    _install_crash_points()
    app_module.install_extra_profiles = _with_switch(app_module.install_extra_profiles)
    from reference_server.__main__ import main as serve

    return serve(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
