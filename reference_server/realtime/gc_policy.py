"""Garbage-collector settings for a node holding thousands of sockets.

Measured (`CRM_LOOP_HEALTH_LOG`, 10,000 users): with CPython's defaults a full (generation 2)
collection ran every 2–3 s while sockets connected, each one walking every object of every
socket — 200–530 ms with the event loop stopped, growing with the number of sockets. Those were
the loop's worst stalls (and the one-off stalls of `bench_fanout.py`).

The policy: a larger young generation (most per-event objects die before they would be
promoted), and every `freeze_every_s` the survivors are moved to the permanent generation
(`gc.freeze()`, O(1)), so a full collection only walks what is newer than the last freeze.
Frozen objects are still freed by reference counting; only reference cycles among them would
wait, for the rare `full_every_s` collection that unfreezes and walks everything once.
"""

from __future__ import annotations

import asyncio
import gc
import time
from dataclasses import dataclass

from .._tasks import stop_task

__all__ = ["GcPolicy"]


@dataclass(slots=True)
class GcPolicy:
    young_threshold: int = 20_000
    middle_threshold: int = 20
    old_threshold: int = 20
    freeze_every_s: float = 10.0
    full_every_s: float = 900.0
    _task: asyncio.Task[None] | None = None
    _previous: tuple[int, int, int] = (700, 10, 10)

    def start(self) -> None:
        self._previous = gc.get_threshold()
        gc.set_threshold(self.young_threshold, self.middle_threshold, self.old_threshold)
        gc.freeze()  # startup's modules, app and backends live as long as the process
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        task, self._task = self._task, None
        await stop_task(task)
        gc.unfreeze()
        gc.set_threshold(*self._previous)

    async def _run(self) -> None:
        last_full = time.monotonic()
        while True:
            await asyncio.sleep(self.freeze_every_s)
            if time.monotonic() - last_full >= self.full_every_s:
                # Reference cycles among frozen objects are reclaimed only here.
                gc.unfreeze()
                gc.collect()
                last_full = time.monotonic()
            gc.freeze()
