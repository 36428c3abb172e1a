"""Pacer: a client-side token bucket keeps ordinary traffic inside LIM-1's advertised rate."""

from __future__ import annotations

import pytest

from harness.client import Pacer, _pacing


class _FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> _FakeClock:
    fake = _FakeClock()
    monkeypatch.setattr(_pacing.time, "monotonic", fake.monotonic)
    monkeypatch.setattr(_pacing.asyncio, "sleep", fake.sleep)
    return fake


async def test_burst_goes_at_once_then_rate(clock: _FakeClock) -> None:
    """LIM-1: `burst` events without waiting, then one per 1/rate seconds."""
    pacer = Pacer(rate=4, burst=3)
    for _ in range(3):
        await pacer.acquire()
    assert clock.sleeps == []
    await pacer.acquire()
    await pacer.acquire()
    assert clock.sleeps == pytest.approx([0.25, 0.25])


async def test_idle_time_refills_up_to_burst(clock: _FakeClock) -> None:
    """A quiet client regains its burst, never more."""
    pacer = Pacer(rate=2, burst=2)
    await pacer.acquire()
    await pacer.acquire()
    clock.now += 60
    for _ in range(2):
        await pacer.acquire()
    assert clock.sleeps == []
    await pacer.acquire()
    assert clock.sleeps == pytest.approx([0.5])


def test_below_leaves_a_margin_and_rejects_nonsense() -> None:
    """INF-2: paced traffic stays under the advertised figures; bad figures are refused."""
    pacer = Pacer.below(10, 20)
    assert pacer.rate < 10 and pacer.burst < 20
    with pytest.raises(ValueError):
        Pacer(rate=0, burst=1)
