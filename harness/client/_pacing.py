"""Client-side pacing: stay inside a server's advertised rate limit (LIM-1) on purpose.

Checks and load users that are not testing the limit itself pace their events below
`eventsPerSecond`/`burst`, so a server configured with tight limits (INF-2) does not turn
their ordinary traffic into RATE_LIMITED refusals.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

__all__ = ["Pacer"]


@dataclass(slots=True)
class Pacer:
    """A token bucket on the sending side; `acquire()` waits until an event may go."""

    rate: float  # events per second
    burst: float
    _tokens: float = field(init=False)
    _stamp: float = field(init=False, default=0.0)
    _lock: asyncio.Lock | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.burst < 1:
            raise ValueError("a pacer needs rate > 0 and burst >= 1")
        self._tokens = self.burst
        self._stamp = time.monotonic()

    @classmethod
    def below(cls, events_per_second: float, burst: int, margin: float = 0.8) -> Pacer:
        """A pacer safely inside a server's bucket (a margin for clock and network jitter)."""
        return cls(max(events_per_second * margin, 0.1), max(burst * margin, 1.0))

    def _refill(self) -> None:
        now = time.monotonic()
        elapsed = max(now - self._stamp, 0.0)
        self._tokens = min(self.burst, self._tokens + elapsed * self.rate)
        self._stamp = now

    async def acquire(self) -> None:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            self._refill()
            if self._tokens < 1:
                await asyncio.sleep((1 - self._tokens) / self.rate)
                self._refill()
            self._tokens -= 1
