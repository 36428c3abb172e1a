"""Time on the wire (TRN-4): ISO-8601 UTC with milliseconds, `2026-11-26T12:00:00.123Z`."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol

__all__ = ["Clock", "SystemClock", "iso_from_epoch", "parse_timestamp", "utc_now_iso"]


class Clock(Protocol):
    def now(self) -> float:
        """Epoch seconds."""


class SystemClock:
    def now(self) -> float:
        return time.time()


def iso_from_epoch(epoch_seconds: float) -> str:
    dt = datetime.fromtimestamp(epoch_seconds, tz=UTC)
    return f"{dt.year:04d}" + dt.strftime("-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def utc_now_iso() -> str:
    return iso_from_epoch(time.time())


def parse_timestamp(value: str) -> float:
    """An RFC 3339 date-time with an offset (§15) to epoch seconds; ValueError otherwise."""
    if not isinstance(value, str) or "T" not in value.upper():
        raise ValueError("not an RFC 3339 date-time")
    dt = datetime.fromisoformat(value.replace("z", "Z"))
    if dt.tzinfo is None:
        raise ValueError("an RFC 3339 date-time needs an offset")
    return dt.timestamp()
