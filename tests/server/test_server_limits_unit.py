"""Pure limit logic: token bucket (LIM-1), flood counter (LIM-2), payload size (LIM-4),
If-Match parsing (REC-5, §15)."""

from __future__ import annotations

import pytest

from reference_server.realtime.limits import (
    FloodCounter,
    TokenBucket,
    measure_payload,
    payload_size,
)
from reference_server.rest.if_match import IfMatchError, parse_if_match


def test_bucket_allows_burst_then_refuses_with_retry_after() -> None:
    """LIM-1: `burst` at once, then refusals whose retryAfterMs is the wait for one token."""
    bucket = TokenBucket(rate=4, capacity=20, now=100.0)
    assert all(bucket.take(100.0) is None for _ in range(20))
    assert bucket.take(100.0) == 250  # one token every 250 ms at 4/s
    assert bucket.take(100.125) == 125
    assert bucket.take(100.25) is None
    assert bucket.take(100.25) is not None


def test_bucket_refills_to_capacity_only() -> None:
    """LIM-1: a long idle period does not allow more than `burst`."""
    bucket = TokenBucket(rate=2, capacity=3, now=0.0)
    taken = sum(bucket.take(1000.0) is None for _ in range(10))
    assert taken == 3


def test_flood_counter_counts_within_window() -> None:
    """LIM-2: more than `threshold` refusals inside the window trips it; older ones expire."""
    flood = FloodCounter(window_seconds=10, threshold=3)
    assert not any(flood.refuse(t) for t in (0.0, 1.0, 2.0))
    assert flood.refuse(3.0)
    flood = FloodCounter(window_seconds=10, threshold=3)
    assert not any(flood.refuse(t) for t in (0.0, 5.0, 10.5, 15.5))


def test_payload_size_is_utf8_json_length() -> None:
    """LIM-4, §15: UTF-8 length of the JSON of the event's arguments."""
    assert payload_size(({"a": "é"},)) == len('{"a":"é"}'.encode())
    assert payload_size(({"a": 1}, 2)) == len('[{"a":1},2]')
    assert payload_size(()) == 2


def test_binary_attachments_are_measured_and_flagged() -> None:
    """LIM-4, LIM-5: bytes count at their length and mark the payload as not JSON."""
    measured = measure_payload(({"blob": b"abc"},))
    assert measured.binary and measured.size == len('{"blob":"abc"}')
    assert not measure_payload(({"a": [1, "x"]},)).binary


@pytest.mark.parametrize(
    ("header", "expected"),
    [(None, None), ("*", None), ('"3"', 3), ("3", 3), ('W/"12"', 12), (" 7 ", 7)],
)
def test_if_match_accepted_forms(header: str | None, expected: int | None) -> None:
    """REC-5, §15: `"n"`, `n`, `W/"n"`; `*` means no check."""
    assert parse_if_match(header) == expected


@pytest.mark.parametrize("header", ["abc", '"x"', "-1", "1.5", 'W/"', ""])
def test_if_match_refuses_others(header: str) -> None:
    """REC-5: anything else is a clear error (400 at the route)."""
    with pytest.raises(IfMatchError):
        parse_if_match(header)
