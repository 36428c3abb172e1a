"""Load shedding (LIM-6): past its budget a node refuses new work instead of failing the
sockets it holds.

Two budgets, either or both: the sockets this node holds (`max_connections`), and how late
its event loop runs (`max_loop_lag_ms`). Past the first, new connects are refused; past the
second, new connects and REST requests. A refusal is cheap — it comes before the token is
verified or anything is stored — and names when to come back (`retryAfterMs`).

Pacing the returns: refusals are not free (a WebSocket handshake each), and every refused
client comes back. With a fixed retryAfterMs, 18,000 refused users returning every 5-10 s
were 2,400 refusals a second, which took the node the sockets it held were owed (the 20,000
users run of issue 12). So a connect refusal books a return slot: slots are
1 / `busy_retry_rate` s apart, from `retry_after_ms` ahead at the soonest, and retryAfterMs
is the time to the refused client's slot — the more are refused, the later they are asked
back, and clients that honour it return at about `busy_retry_rate` a second however many
they are. Capped at `max_retry_after_ms` (past it the returns are faster than the rate);
never below a random spread over [retry_after_ms, 2 × retry_after_ms), so that a few refused
together still do not return together. New clients are not paced: their first connects are
refused at whatever rate they arrive.

Why both: a socket count is exact and is what holds a node's fan-out cost down, but what one
node can hold depends on the machine and the workload; the loop's lateness is measured, and
is what heartbeats, acks and deliveries of the sockets already held suffer from.
Measured on the reference server before this existed: 20,000 users asked of one node on a
2-core machine drove its loop 9 s late, 9,567 connects timed out and 13,560 connected
sockets missed their heartbeats (docs/benchmarks.md).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from .loop_lag import LoopLag

__all__ = ["LoadShedder", "Shedding"]


@dataclass(frozen=True, slots=True)
class Shedding:
    """A node's overload budget; 0 turns a budget off."""

    max_connections: int = 0  # sockets this node holds at most (0: no cap)
    max_loop_lag_ms: int = 2000  # new work is refused while the loop runs later than this
    retry_after_ms: int = 2000  # the least retryAfterMs a refusal asks for
    # Refused connects asked back per second at most (return slots); 0: no pacing.
    busy_retry_rate: int = 100
    max_retry_after_ms: int = 60_000  # the most retryAfterMs a refusal asks for

    def __post_init__(self) -> None:
        if self.max_connections < 0 or self.max_loop_lag_ms < 0 or self.busy_retry_rate < 0:
            raise ValueError("shedding budgets are ≥ 0 (0 = off)")
        if self.retry_after_ms <= 0 or self.max_retry_after_ms <= 0:
            raise ValueError("retry_after_ms and max_retry_after_ms must be > 0")

    @property
    def retry_ceiling_ms(self) -> int:
        """The most a refusal asks for: never under the spread's top, 2 × retry_after_ms."""
        return max(self.max_retry_after_ms, 2 * self.retry_after_ms)


class LoadShedder:
    """Decides, at the moment a connect or a request arrives, whether the node takes it.

    `start()` in the app's lifespan starts the loop-lag sampler (`loop_lag.LoopLag`, shared
    with the heartbeat); without it only the connection budget applies.
    """

    def __init__(
        self,
        budget: Shedding,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
        loop_lag: LoopLag | None = None,
    ) -> None:
        self.budget = budget
        self._rng = rng or random.Random()
        self._clock = clock
        self._next_slot = 0.0  # clock time of the next free return slot
        self.loop_lag = loop_lag or LoopLag()

    # -- the sampler --------------------------------------------------------------------------
    def start(self) -> None:
        if self.budget.max_loop_lag_ms:
            self.loop_lag.start()

    async def stop(self) -> None:
        await self.loop_lag.stop()

    def loop_lag_ms(self) -> float:
        """How late the loop runs: the worst lateness of the last second, or, when the sampler
        is overdue right now (the loop is stalled in the middle of a long turn, or has a
        backlog), how overdue it is."""
        return self.loop_lag.worst_ms(1.0)

    # -- decisions ----------------------------------------------------------------------------
    def _retry_after_ms(self) -> int:
        """A random spread over [retry_after_ms, 2 × retry_after_ms)."""
        base = self.budget.retry_after_ms
        return base + int(self._rng.random() * base)

    def _paced_retry_after_ms(self) -> int:
        """A refused connect's retryAfterMs: the time to the next free return slot (booked
        here), at least the random spread, at most `max_retry_after_ms`."""
        budget = self.budget
        spread = self._retry_after_ms()
        if not budget.busy_retry_rate:
            return spread
        now, ceiling_ms = self._clock(), budget.retry_ceiling_ms
        slot = max(self._next_slot, now + budget.retry_after_ms / 1000.0)
        # Slots past the ceiling are not booked: the wait is capped there anyway.
        self._next_slot = min(slot + 1.0 / budget.busy_retry_rate, now + ceiling_ms / 1000.0)
        return min(ceiling_ms, max(spread, round((slot - now) * 1000)))

    def lagging(self) -> bool:
        budget = self.budget.max_loop_lag_ms
        return bool(budget) and self.loop_lag_ms() > budget

    def refuse_connect(self, held: int) -> int | None:
        """retryAfterMs when a new socket must be refused (`held`: the sockets this node holds
        or is admitting now), else None."""
        cap = self.budget.max_connections
        if (cap and held >= cap) or self.lagging():
            return self._paced_retry_after_ms()
        return None

    def refuse_request(self) -> int | None:
        """retryAfterMs when a REST request must be refused (the loop is over its budget).
        Not paced: a request comes from a user the node holds, and is refused in a turn."""
        return self._retry_after_ms() if self.lagging() else None
