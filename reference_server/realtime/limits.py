"""Per-socket limits: the token bucket (LIM-1), flood detection (LIM-2), payload size (LIM-4)."""

from __future__ import annotations

import json
import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

__all__ = ["FloodCounter", "PayloadMeasure", "TokenBucket", "measure_payload", "payload_size"]


@dataclass(slots=True)
class TokenBucket:
    """`rate` tokens a second up to `capacity`; starts full so a client may burst at once."""

    rate: float
    capacity: float
    now: float
    tokens: float = field(init=False)
    _updated: float = field(init=False)

    def __post_init__(self) -> None:
        self.tokens = float(self.capacity)
        self._updated = self.now

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self._updated)
        self.tokens = min(float(self.capacity), self.tokens + elapsed * self.rate)
        self._updated = now

    def take(self, now: float) -> int | None:
        """None when a token was taken; else the ms until one is available (§15 retryAfterMs)."""
        self._refill(now)
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return None
        return max(1, math.ceil((1.0 - self.tokens) / self.rate * 1000))


@dataclass(slots=True)
class FloodCounter:
    """Rate-limit refusals within a sliding window (LIM-2 counts those only, §15)."""

    window_seconds: float
    threshold: int
    _times: deque[float] = field(default_factory=deque)

    def refuse(self, now: float) -> bool:
        """Record one refusal; True when the socket is now over the threshold."""
        self._times.append(now)
        while self._times and self._times[0] <= now - self.window_seconds:
            self._times.popleft()
        return len(self._times) > self.threshold


@dataclass(frozen=True, slots=True)
class PayloadMeasure:
    size: int
    binary: bool  # the spec's payloads are JSON; a binary attachment is refused, not processed


def measure_payload(args: tuple[Any, ...]) -> PayloadMeasure:
    """UTF-8 length of the JSON of an event's arguments (§15): the one object when there is one.
    Binary attachments count at their byte length."""
    data: Any = args[0] if len(args) == 1 else list(args)
    binary = False

    def as_text(value: Any) -> str:
        nonlocal binary
        if isinstance(value, bytes | bytearray):
            binary = True
            return bytes(value).decode("latin-1")  # one character per byte: the same length
        raise TypeError(f"{type(value).__name__} is not JSON")

    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False, default=as_text)
    return PayloadMeasure(len(text.encode("utf-8")), binary)


def payload_size(args: tuple[Any, ...]) -> int:
    return measure_payload(args).size
