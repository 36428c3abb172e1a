"""Record ids grow with creation time, so REC-3's tie-break by id keeps newest first."""

from __future__ import annotations

import uuid

from domain_doubles import FakeClock

from reference_server.domain.ids import TimeOrderedIds


def test_ids_are_uuid7_and_strictly_increasing_within_a_millisecond() -> None:
    """REC-3, §15: ties in createdAt are ordered by id; ids made later sort later."""
    clock = FakeClock()
    make = TimeOrderedIds(clock)
    same_ms = [make() for _ in range(5000)]  # more than the 4096 a millisecond's counter holds
    clock.value += 0.001
    later = make()
    ids = [*same_ms, later]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    parsed = uuid.UUID(later)
    assert parsed.version == 7 and parsed.variant == uuid.RFC_4122


def test_ids_follow_the_clock() -> None:
    """REC-3: the first 48 bits are the creation time in milliseconds."""
    clock = FakeClock(1_790_000_000.123)
    assert uuid.UUID(TimeOrderedIds(clock)()).int >> 80 == 1_790_000_000_123
