"""Event-loop health for profiling under load: loop lag and garbage-collector pauses.

Off unless `CRM_LOOP_HEALTH_LOG=PATH` is set (a benchmark aid, not a spec feature): then the
node appends one JSON line per second to PATH — the worst loop lag seen (a timer's lateness,
sampled every 50 ms), how many GC collections ran per generation, their total and longest
pause. That is how the 10,000-user collapse was told apart
from plain CPU cost (see docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._tasks import stop_task

__all__ = ["LOOP_HEALTH_ENV", "GcPauses", "LoopHealth"]

LOOP_HEALTH_ENV = "CRM_LOOP_HEALTH_LOG"
_SAMPLE_S = 0.05
_REPORT_S = 1.0


@dataclass(slots=True)
class GcPauses:
    """Collections and pause time since the last `take()`, from `gc.callbacks`."""

    collections: list[int] = field(default_factory=lambda: [0, 0, 0])
    total_ms: float = 0.0
    max_ms: float = 0.0
    _started: float = 0.0

    def on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        pause_ms = (time.perf_counter() - self._started) * 1000
        self.collections[int(info["generation"])] += 1
        self.total_ms += pause_ms
        self.max_ms = max(self.max_ms, pause_ms)

    def take(self) -> dict[str, Any]:
        taken = {"gc": list(self.collections), "gc_ms": round(self.total_ms, 1),
                 "gc_max_ms": round(self.max_ms, 1)}  # fmt: skip
        self.collections, self.total_ms, self.max_ms = [0, 0, 0], 0.0, 0.0
        return taken


class LoopHealth:
    """One task sampling loop lag; `start()`/`stop()` from the app's lifespan."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.gc_pauses = GcPauses()
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def from_env(cls) -> LoopHealth | None:
        path = os.environ.get(LOOP_HEALTH_ENV)
        return cls(Path(path)) if path else None

    def start(self) -> None:
        gc.callbacks.append(self.gc_pauses.on_gc)
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        with contextlib.suppress(ValueError):
            gc.callbacks.remove(self.gc_pauses.on_gc)
        await stop_task(self._task)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        with self.path.open("a", encoding="utf-8") as out:
            while True:
                worst_lag = 0.0
                report_at = loop.time() + _REPORT_S
                while loop.time() < report_at:
                    expected = loop.time() + _SAMPLE_S
                    await asyncio.sleep(_SAMPLE_S)
                    worst_lag = max(worst_lag, loop.time() - expected)
                lag_ms = round(worst_lag * 1000, 1)
                line = {"t": round(time.time(), 3), "lag_max_ms": lag_ms, **self.gc_pauses.take()}
                out.write(json.dumps(line) + "\n")
                out.flush()
