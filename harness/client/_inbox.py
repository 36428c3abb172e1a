"""`EventInbox`: every event a connection received, in order, and waiting for the next ones.

The conformance checks read a client's history in two ways: what already arrived
(`received`, from a `mark`), and what is still to come (`wait_for`, `wait_for_count`,
`collect_quiet` for negative checks). Both live here, apart from the connection itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from ._messages import EventMatch, ReceivedEvent, matcher

__all__ = ["EventInbox"]


class EventInbox:
    """Received events in arrival order, with waiters woken as matching ones come in."""

    def __init__(self) -> None:
        self.events: list[ReceivedEvent] = []
        self._waiters: list[tuple[Callable[[ReceivedEvent], bool], asyncio.Future[Any]]] = []

    def _deliver(self, received: ReceivedEvent) -> None:
        self.events.append(received)
        for predicate, future in list(self._waiters):
            if not future.done() and predicate(received):
                future.set_result(received)

    def mark(self) -> int:
        """A position in `events`; pass it as `since=` to look only at what came after."""
        return len(self.events)

    def received(self, match: EventMatch = None, *, since: int = 0) -> list[ReceivedEvent]:
        predicate = matcher(match)
        return [e for e in self.events[since:] if predicate(e)]

    async def wait_for(
        self,
        match: EventMatch,
        timeout: float,  # noqa: ASYNC109
        *,
        since: int = 0,
    ) -> ReceivedEvent | None:
        """The first event (from `since` on) matching a name or predicate; None on timeout."""
        predicate = matcher(match)
        for event in self.events[since:]:
            if predicate(event):
                return event
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        entry = (predicate, future)
        self._waiters.append(entry)
        try:
            result: ReceivedEvent = await asyncio.wait_for(future, timeout)
            return result
        except TimeoutError:
            return None
        finally:
            self._waiters.remove(entry)

    async def wait_for_count(
        self,
        match: EventMatch,
        count: int,
        timeout: float,  # noqa: ASYNC109
        *,
        since: int = 0,
    ) -> list[ReceivedEvent]:
        """Wait until `count` matching events arrived (or timeout); returns those seen."""
        predicate = matcher(match)
        seen = len(self.received(predicate, since=since))

        def counts(event: ReceivedEvent) -> bool:
            nonlocal seen
            seen += predicate(event)
            return seen >= count

        if seen < count:
            await self.wait_for(counts, timeout, since=len(self.events))
        return self.received(predicate, since=since)

    async def collect_quiet(self, period: float, match: EventMatch = None) -> list[ReceivedEvent]:
        """Listen for `period` seconds; what arrived (and matched) meanwhile.

        For negative checks: an empty list means nothing matching arrived in the period.
        """
        start = self.mark()
        await asyncio.sleep(period)
        return self.received(match, since=start)
