"""KeyPurger: expired idempotency keys are forgotten in the background (MUT-2)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from domain_doubles import Harness

from harness.spec import Op
from reference_server.domain.contracts import Actor, ChangeRequest
from reference_server.domain.upkeep import KeyPurger
from reference_server.store import StoreUnavailable

WAIT_SECONDS = 5.0


class _Watched:
    """Passes purges through and says when `wanted` of them have run."""

    def __init__(self, purge: Callable[[], Awaitable[int]], wanted: int) -> None:
        self.purge, self.wanted = purge, wanted
        self.calls = 0
        self.reached = asyncio.Event()

    async def purge_expired_keys(self) -> int:
        self.calls += 1
        if self.calls >= self.wanted:
            self.reached.set()
        return await self.purge()


async def test_purger_forgets_expired_keys_in_the_background(domain: Harness, alice: Actor) -> None:
    """MUT-2: a key past idempotencyTtlSeconds is purged without any request asking."""
    await domain.service.change(
        alice, ChangeRequest(Op.CREATE, "escrow", changes={"address": "x"}, idempotency_key="k")
    )
    domain.clock.value += domain.service.limits.idempotencyTtlSeconds + 1
    watched = _Watched(domain.service.purge_expired_keys, wanted=2)
    purger = KeyPurger(watched, interval_seconds=0.01)
    purger.start()
    try:
        await asyncio.wait_for(watched.reached.wait(), WAIT_SECONDS)
    finally:
        await purger.stop()
    assert purger.purged_total == 1


async def test_purger_survives_an_unavailable_store_and_stops_cleanly() -> None:
    """INF-3: a store outage is logged and retried next interval; stop() ends the task."""
    outcomes: list[int | None] = [None, 2, 2]

    async def flaky() -> int:
        outcome = outcomes.pop(0) if outcomes else 0
        if outcome is None:
            raise StoreUnavailable("down for a moment")
        return outcome

    watched = _Watched(flaky, wanted=3)
    purger = KeyPurger(watched, interval_seconds=0.01)
    purger.start()
    await asyncio.wait_for(watched.reached.wait(), WAIT_SECONDS)
    await purger.stop()
    assert purger.purged_total >= 2
    calls = watched.calls
    await asyncio.sleep(0.05)
    assert watched.calls == calls  # stopped means stopped


def test_interval_must_be_positive() -> None:
    """Bad input gets a clear error."""
    with pytest.raises(ValueError, match="positive"):
        KeyPurger(_Watched(lambda: asyncio.sleep(0, 0), 1), interval_seconds=0)
