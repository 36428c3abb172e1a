"""StreamTracker: reorder by seq, dedupe by eventId, find gaps (STR-1, STR-2, STR-5)."""

from __future__ import annotations

from typing import Any

from harness.client import AnomalyKind, Arrival, StreamTracker


def _event(seq: int, stream: str = "team:t1", event_id: str | None = None) -> dict[str, Any]:
    return {"eventId": event_id or f"{stream}#{seq}", "stream": stream, "seq": seq}


def test_out_of_order_events_are_released_in_seq_order() -> None:
    """STR-1: clients reorder by seq; pop_ready only hands out a gapless run."""
    tracker = StreamTracker()
    for seq in (2, 1, 4):
        tracker.add("escrow:updated", _event(seq))
    assert [p["seq"] for _, p in tracker.pop_ready("team:t1")] == [1, 2]
    assert tracker.gaps() == {"team:t1": [3]}
    assert tracker.cursor("team:t1") == 2
    tracker.add("escrow:updated", _event(3))
    assert [p["seq"] for _, p in tracker.pop_ready("team:t1")] == [3, 4]
    assert tracker.gaps() == {} and tracker.cursor("team:t1") == 4
    assert [(a.kind, a.seq) for a in tracker.anomalies] == [
        (AnomalyKind.OUT_OF_ORDER, 1),
        (AnomalyKind.OUT_OF_ORDER, 3),
    ]


def test_duplicates_by_event_id_are_dropped_and_reported() -> None:
    """STR-5: none twice after deduplication by eventId."""
    tracker = StreamTracker()
    assert tracker.add("escrow:created", _event(1)) is Arrival.IN_ORDER
    assert tracker.add("escrow:created", _event(1)) is Arrival.DUPLICATE
    assert tracker.seqs("team:t1") == [1]
    assert [(a.kind, a.seq) for a in tracker.duplicates()] == [(AnomalyKind.DUPLICATE, 1)]


def test_same_seq_under_two_event_ids_is_a_conflict() -> None:
    """STR-1: one seq is one event; a second eventId for it is an anomaly."""
    tracker = StreamTracker()
    tracker.add("escrow:created", _event(1, event_id="a"))
    assert tracker.add("escrow:created", _event(1, event_id="b")) is Arrival.CONFLICT
    assert tracker.anomalies[-1].kind is AnomalyKind.CONFLICT


def test_base_cursor_and_streams_are_independent() -> None:
    """STR-2: a cursor is per stream; seqs at or below the base are already held."""
    tracker = StreamTracker({"team:t1": 5})
    assert tracker.add("x", _event(5)) is Arrival.STALE
    tracker.add("x", _event(7))
    tracker.add("x", _event(1, stream="user:u1"))
    assert tracker.gaps() == {"team:t1": [6]}
    assert tracker.cursors() == {"team:t1": 5, "user:u1": 1}


def test_non_durable_and_bad_seq_events() -> None:
    """STR-1: durable events carry an integer seq ≥ 1; ephemeral ones are not tracked."""
    tracker = StreamTracker()
    assert tracker.add("user:typing", {"userId": "u"}) is None
    assert tracker.add("x", {"eventId": "e", "stream": "team:t1", "seq": "3"}) is None
    assert tracker.anomalies[-1].kind is AnomalyKind.BAD_SEQ
