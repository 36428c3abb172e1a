"""Fixtures: a RecordService on a fresh SQLite file, and actors in and out of one team."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from domain_doubles import FakeClock, Harness, LockTable, RecordingPublisher

from harness.spec import Limits
from reference_server.domain.contracts import Actor
from reference_server.domain.records import RecordService
from reference_server.store import open_store


@pytest.fixture
async def domain(tmp_path: Path) -> AsyncIterator[Harness]:
    clock = FakeClock()
    store = open_store(f"sqlite:///{tmp_path}/domain.sqlite3", clock=clock)
    await store.open()
    locks, publisher = LockTable(), RecordingPublisher()
    service = RecordService(store, locks, publisher, Limits(idempotencyTtlSeconds=60), clock)
    try:
        yield Harness(service, store, clock, locks, publisher)
    finally:
        await store.close()


@pytest.fixture
def alice() -> Actor:
    return Actor("u-alice", "t-1", "b-1", "Alice")


@pytest.fixture
def bob() -> Actor:
    """Alice's teammate."""
    return Actor("u-bob", "t-1", "b-1", "Bob")


@pytest.fixture
def carol() -> Actor:
    """Same brokerage as Alice, another team."""
    return Actor("u-carol", "t-2", "b-1", "Carol")


@pytest.fixture
def mallory() -> Actor:
    """Another brokerage altogether."""
    return Actor("u-mallory", "t-9", "b-9", "Mallory")
