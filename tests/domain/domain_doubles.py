"""Test doubles for the domain tests: a settable clock, a lock table, a recording publisher."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from reference_server.domain.records import RecordService
from reference_server.state.base import EditLock
from reference_server.store import RecordStore, StoredEvent

__all__ = ["FakeClock", "Harness", "LockTable", "RecordingPublisher"]


@dataclass
class FakeClock:
    """Epoch seconds that only move when a test moves them."""

    value: float = 1_790_000_000.0

    def now(self) -> float:
        return self.value


@dataclass
class LockTable:
    """Just the `get_lock` part of ClusterState: what the service consults (COL-5)."""

    locks: dict[str, EditLock] = field(default_factory=dict)

    async def get_lock(self, record_key: str) -> EditLock | None:
        return self.locks.get(record_key)


@dataclass
class RecordingPublisher:
    published: list[StoredEvent] = field(default_factory=list)
    batches: int = 0

    async def publish(self, events: Sequence[StoredEvent]) -> None:
        self.batches += 1
        self.published.extend(events)


@dataclass
class Harness:
    service: RecordService
    store: RecordStore
    clock: FakeClock
    locks: LockTable
    publisher: RecordingPublisher
