"""LIM-6 retry pacing: a refused connect's retryAfterMs grows with the refused, so that the
clients that honour it come back at about `busy_retry_rate` a second however many they are
(issue 12: 18,000 refused users returning every 5-10 s saturated the node).

The shedder is driven with a clock of the test's own: no waiting, nothing timed.
"""

from __future__ import annotations

import random
from collections import Counter

import pytest

from reference_server.shedding import LoadShedder, Shedding

BASE_MS = 2000
RATE = 100


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _shedder(clock: FakeClock, **budget: int) -> LoadShedder:
    shedding = Shedding(**{"max_connections": 1, "retry_after_ms": BASE_MS,
                           "busy_retry_rate": RATE, **budget})  # fmt: skip
    return LoadShedder(shedding, rng=random.Random(7), clock=clock)


def _refuse(shedder: LoadShedder, n: int) -> list[int]:
    retries = [shedder.refuse_connect(held=1) for _ in range(n)]
    assert all(r is not None for r in retries)
    return [r for r in retries if r is not None]


def test_many_refused_at_once_are_asked_back_at_the_rate() -> None:
    """3,000 refused in the same instant: none is asked back sooner than retry_after_ms, and
    in no second do more than the rate (and the few of the first spread) come back; the
    last come back about 3,000 / rate s later."""
    clock = FakeClock()
    retries = _refuse(_shedder(clock), 3000)
    assert min(retries) >= BASE_MS
    per_second = Counter(r // 1000 for r in retries)
    # The first slots lie within the random spread [base, 2 base): those few return at their
    # spread; from then on one per slot.
    assert max(per_second.values()) <= 2 * RATE, per_second
    assert max(retries) >= BASE_MS + (3000 - 1) * 1000 // RATE - 1
    assert max(retries) <= BASE_MS + 3000 * 1000 // RATE


def test_a_few_refused_get_the_plain_spread() -> None:
    """Below the rate nothing changes: retryAfterMs in [base, 2 base), as before pacing."""
    clock = FakeClock()
    shedder = _shedder(clock)
    retries = []
    for _ in range(20):
        retries += _refuse(shedder, 1)
        clock.now += 1.0  # one refusal a second: far under the rate
    assert all(BASE_MS <= r < 2 * BASE_MS for r in retries), retries
    assert len(set(retries)) > 10  # spread at random, not all the same


def test_the_wait_is_capped_and_the_booking_forgets_when_time_passes() -> None:
    """More refused than the ceiling can pace: retryAfterMs stops at max_retry_after_ms.
    Once the booked slots are past, a refusal is back to the plain spread."""
    clock = FakeClock()
    shedder = _shedder(clock, max_retry_after_ms=30_000)
    retries = _refuse(shedder, 10_000)
    assert max(retries) == 30_000
    assert sum(r == 30_000 for r in retries) > 5000  # the rest wait the ceiling
    clock.now += 31.0
    assert all(BASE_MS <= r < 2 * BASE_MS for r in _refuse(shedder, 5))


def test_pacing_off_and_the_ceiling_never_under_the_spread() -> None:
    """busy_retry_rate 0: the plain spread whatever the count. A ceiling under 2 × base is
    raised to it, so the spread is never cut."""
    clock = FakeClock()
    unpaced = _refuse(_shedder(clock, busy_retry_rate=0), 5000)
    assert all(BASE_MS <= r < 2 * BASE_MS for r in unpaced)
    assert Shedding(retry_after_ms=BASE_MS, max_retry_after_ms=1).retry_ceiling_ms == 2 * BASE_MS
    for bad in ({"busy_retry_rate": -1}, {"max_retry_after_ms": 0}):
        with pytest.raises(ValueError):
            Shedding(**bad)


def test_rest_refusals_are_not_paced_nor_book_slots() -> None:
    """A REST refusal (loop over its lag budget) gets the plain spread and takes no return
    slot from the refused connects."""
    clock = FakeClock()
    shedder = _shedder(clock, max_connections=0, max_loop_lag_ms=100)
    shedder.loop_lag_ms = lambda: 500.0  # type: ignore[method-assign]  # lagging, by fiat
    rest = [shedder.refuse_request() for _ in range(1000)]
    assert all(r is not None and BASE_MS <= r < 2 * BASE_MS for r in rest)
    assert _refuse(shedder, 1)[0] < 2 * BASE_MS  # the first connect refused: the first slot
