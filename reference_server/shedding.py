"""Load shedding (LIM-6): past its budget a node refuses new work instead of failing the
sockets it holds.

Two budgets, either or both: the sockets this node holds (`max_connections`), and how late
its event loop runs (`max_loop_lag_ms`). Past the first, new connects are refused; past the
second, new connects and REST requests. A refusal is cheap — it comes before the token is
verified or anything is stored — and names when to come back (`retryAfterMs`, spread over
[retry_after_ms, 2 × retry_after_ms) so that the refused do not return together).

Why both: a socket count is exact and is what holds a node's fan-out cost down, but what one
node can hold depends on the machine and the workload; the loop's lateness is measured, and
is what heartbeats, acks and deliveries of the sockets already held suffer from.
Measured on the reference server before this existed: 20,000 users asked of one node on a
2-core machine drove its loop 9 s late, 9,567 connects timed out and 13,560 connected
sockets missed their heartbeats (docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import deque
from dataclasses import dataclass

from ._tasks import stop_task

__all__ = ["LoadShedder", "Shedding"]

# The lag sampler's period, and how many samples the measured lag is the worst of (1 s).
_SAMPLE_S = 0.1
_WINDOW = 10


@dataclass(frozen=True, slots=True)
class Shedding:
    """A node's overload budget; 0 turns a budget off."""

    max_connections: int = 0  # sockets this node holds at most (0: no cap)
    max_loop_lag_ms: int = 2000  # new work is refused while the loop runs later than this
    retry_after_ms: int = 2000  # the least retryAfterMs a refusal asks for

    def __post_init__(self) -> None:
        if self.max_connections < 0 or self.max_loop_lag_ms < 0:
            raise ValueError("shedding budgets are ≥ 0 (0 = off)")
        if self.retry_after_ms <= 0:
            raise ValueError("retry_after_ms must be > 0")


class LoadShedder:
    """Decides, at the moment a connect or a request arrives, whether the node takes it.

    `start()` in the app's lifespan starts the loop-lag sampler (a task that sleeps
    `_SAMPLE_S` and notes how late it woke); without it only the connection budget applies.
    """

    def __init__(self, budget: Shedding, rng: random.Random | None = None) -> None:
        self.budget = budget
        self._rng = rng or random.Random()
        self._lateness: deque[float] = deque(maxlen=_WINDOW)
        self._wake_at: float | None = None  # loop time the sampler should wake next
        self._task: asyncio.Task[None] | None = None

    # -- the sampler --------------------------------------------------------------------------
    def start(self) -> None:
        if self.budget.max_loop_lag_ms and self._task is None:
            # Due from now: a stall before the task's first turn is already measured.
            self._wake_at = asyncio.get_running_loop().time() + _SAMPLE_S
            self._task = asyncio.create_task(self._sample())

    async def stop(self) -> None:
        task, self._task = self._task, None
        await stop_task(task)

    async def _sample(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            wake_at = self._wake_at if self._wake_at is not None else loop.time() + _SAMPLE_S
            await asyncio.sleep(max(0.0, wake_at - loop.time()))
            self._lateness.append(max(0.0, loop.time() - wake_at))
            self._wake_at = loop.time() + _SAMPLE_S

    def loop_lag_ms(self) -> float:
        """How late the loop runs: the worst lateness of the last second's samples, or, when
        the sampler is overdue right now (the loop is stalled in the middle of a long turn,
        or has a backlog), how overdue it is."""
        worst = max(self._lateness, default=0.0)
        if self._wake_at is not None:
            with contextlib.suppress(RuntimeError):  # no running loop: nothing is overdue
                worst = max(worst, asyncio.get_running_loop().time() - self._wake_at)
        return worst * 1000.0

    # -- decisions ----------------------------------------------------------------------------
    def _retry_after_ms(self) -> int:
        base = self.budget.retry_after_ms
        return base + int(self._rng.random() * base)

    def lagging(self) -> bool:
        budget = self.budget.max_loop_lag_ms
        return bool(budget) and self.loop_lag_ms() > budget

    def refuse_connect(self, held: int) -> int | None:
        """retryAfterMs when a new socket must be refused (`held`: the sockets this node holds
        or is admitting now), else None."""
        cap = self.budget.max_connections
        if (cap and held >= cap) or self.lagging():
            return self._retry_after_ms()
        return None

    def refuse_request(self) -> int | None:
        """retryAfterMs when a REST request must be refused (the loop is over its budget)."""
        return self._retry_after_ms() if self.lagging() else None
