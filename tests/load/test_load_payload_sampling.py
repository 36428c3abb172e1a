"""The load engine validates a sample of deliveries (1 in VALIDATE_EVERY) against the spec's
schemas and reports each violation as a `schema_violation` anomaly naming the requirement and
the JSON path (issue 17)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from harness.load import tracker as tracker_module
from harness.load.measure import MEASUREMENTS, AnomalyKind, AnomalyRecord
from harness.load.tracker import VALIDATE_EVERY, SocketTracker

_TS = "2026-12-07T17:04:03.630Z"


def _updated(seq: int, **overrides: Any) -> dict[str, Any]:
    event = {"eventId": f"ev-{seq}", "stream": "team:t", "seq": seq, "entityType": "lead",
             "entityId": "l-1", "action": "updated", "version": seq + 1,
             "changes": {"score": 3, "updatedAt": _TS}, "actorId": "u-2", "teamId": "t",
             "brokerId": "b", "via": "api", "taskId": None, "timestamp": _TS}  # fmt: skip
    event.update(overrides)
    return event


@pytest.fixture
def anomalies() -> Iterator[list[AnomalyRecord]]:
    seen: list[AnomalyRecord] = []

    def listen(record: Any) -> None:
        if isinstance(record, AnomalyRecord):
            seen.append(record)

    MEASUREMENTS.add_listener(listen)
    yield seen
    MEASUREMENTS.remove_listener(listen)


def test_sampled_violations_are_reported(anomalies: list[AnomalyRecord]) -> None:
    """Every delivery breaks its schema (version as a string): exactly the sampled ones are
    reported, as EVT-3 with the field's path."""
    tracker = SocketTracker("u-1", "s-1", ("broker:b", "team:t", "user:u-1"), {}, 0)
    tracker.start_at({"team:t": 0})
    for seq in range(1, 3 * VALIDATE_EVERY + 1):
        tracker.on_event("lead:updated", _updated(seq, version=str(seq)), 0.0, 100)
    broken = [a for a in anomalies if a.kind == AnomalyKind.SCHEMA_VIOLATION]
    assert len(broken) == 3
    assert broken[0].detail.startswith("EVT-3 lead:updated $.version:")


def test_valid_deliveries_report_nothing(anomalies: list[AnomalyRecord]) -> None:
    tracker = SocketTracker("u-1", "s-1", ("broker:b", "team:t", "user:u-1"), {}, 0)
    tracker.start_at({"team:t": 0})
    for seq in range(1, 2 * VALIDATE_EVERY + 1):
        tracker.on_event("lead:updated", _updated(seq), 0.0, 100)
    assert tracker_module._VALIDATOR is not None  # the sample was checked
    assert [a for a in anomalies if a.kind == AnomalyKind.SCHEMA_VIOLATION] == []
