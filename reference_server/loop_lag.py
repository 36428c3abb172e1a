"""How late the node's event loop runs, measured from inside it.

A task sleeps `_TICK_S` at a time and notes how late it woke (loop time). Two readers need it:

- load shedding (LIM-6) refuses new work while the loop runs later than its budget
  (`worst_ms`, the last second's worst lateness);
- the heartbeat (TRN-3) must not blame a client for the node's own lag. A pong that sat
  unread in the socket while the loop was stalled, or behind thousands of callbacks, is not
  a silent client. `responsive_s` is how much of a stretch of time the loop was on time:
  the stretch minus the lateness measured in it, so a ping is judged only on the time the
  node could have heard the answer. On a loop that keeps up, that is the whole stretch.

Both count the lateness of a tick that is overdue right now (the loop in the middle of a
long turn, or the first turn after one) as well as the recorded ticks.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque

from ._tasks import stop_task

__all__ = ["LoopLag"]

_TICK_S = 0.1
# Lateness kept for this long: past pingInterval + pingTimeout of any sane heartbeat.
_HORIZON_S = 120.0
_LATE_S = 0.002  # below this a tick is on time (timer resolution, a short callback)


class LoopLag:
    """The sampler (`start()`/`stop()` in the app's lifespan) and what it measured."""

    def __init__(self) -> None:
        # (due, woke) in loop time for each tick that woke late, oldest first.
        self._late: deque[tuple[float, float]] = deque(maxlen=int(_HORIZON_S / _TICK_S))
        self._due: float | None = None  # loop time the next tick is due
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            # Due from now: a stall before the task's first turn is already measured.
            self._due = asyncio.get_running_loop().time() + _TICK_S
            self._task = asyncio.create_task(self._tick())

    async def stop(self) -> None:
        task, self._task = self._task, None
        await stop_task(task)

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = self._due if self._due is not None else loop.time() + _TICK_S
            await asyncio.sleep(max(0.0, due - loop.time()))
            woke = loop.time()
            if woke - due > _LATE_S:
                self._late.append((due, woke))
            self._due = woke + _TICK_S

    def _now_and_overdue(self) -> tuple[float, tuple[float, float] | None]:
        try:
            now = asyncio.get_running_loop().time()
        except RuntimeError:  # no running loop: nothing is overdue
            return 0.0, None
        due = self._due
        return now, ((due, now) if due is not None and now - due > _LATE_S else None)

    def worst_ms(self, window_s: float = 1.0) -> float:
        """The worst lateness of the ticks due in the last `window_s`, or of the tick overdue
        now, in ms."""
        now, overdue = self._now_and_overdue()
        spans = [*self._late, overdue] if overdue else self._late
        return 1000.0 * max((woke - due for due, woke in spans if due >= now - window_s),
                            default=0.0)  # fmt: skip

    def responsive_s(self, since_wall: float) -> float:
        """Of the time from `since_wall` (a `time.time()`) to now, the part the loop was not
        late."""
        now, overdue = self._now_and_overdue()
        since = now - (time.time() - since_wall)
        late = max(0.0, now - max(overdue[0], since)) if overdue else 0.0
        for due, woke in reversed(self._late):  # newest first: stop at the first one before
            if woke <= since:
                break
            late += min(woke, now) - max(due, since)
        return max(0.0, now - since - late)
