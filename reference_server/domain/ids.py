"""Record ids that sort by creation: UUIDv7 (RFC 9562) with a counter inside one millisecond.

REC-3 lists newest first and breaks `createdAt` ties (same millisecond) by id; with ids that
grow with time, newest-first then holds within a millisecond too.
"""

from __future__ import annotations

import secrets
import threading
import uuid

from .clock import Clock, SystemClock

__all__ = ["TimeOrderedIds"]

_COUNTER_MAX = 0xFFF  # the 12 bits of rand_a, used as a counter (RFC 9562 §6.2, method 1)


class TimeOrderedIds:
    """Callable giving UUIDv7 strings, strictly increasing for this process."""

    def __init__(self, clock: Clock | None = None) -> None:
        self._clock = clock or SystemClock()
        self._lock = threading.Lock()
        self._last_ms = -1
        self._counter = 0

    def __call__(self) -> str:
        with self._lock:
            ms = int(self._clock.now() * 1000)
            if ms <= self._last_ms:
                ms, self._counter = self._last_ms, self._counter + 1
                if self._counter > _COUNTER_MAX:  # 4096 ids in one ms: borrow the next ms
                    ms, self._counter = ms + 1, 0
            else:
                self._counter = 0
            self._last_ms = ms
            counter = self._counter
        value = (ms & (2**48 - 1)) << 80
        value |= 0x7 << 76 | counter << 64  # version 7, then the counter
        value |= 0b10 << 62 | secrets.randbits(62)  # RFC 4122 variant, then random bits
        return str(uuid.UUID(int=value))
