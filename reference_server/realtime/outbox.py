"""The transactional outbox, finished: a cluster node's events reach every node's sockets live
even when the node that committed them dies before publishing them (CLU-1, EVT-2, issue #14).

The store keeps each event a cluster node commits in an outbox table, written in the same
statement as the event (`store.base.UnitOfWork.append_event`). Publication is settled in two
steps that never lose an event and never send one twice:

- **The committing node** publishes right after commit through `publish_one(once=True)`: the
  Redis fan-out publishes an event id at most once across the cluster (`RedisFanoutManager`).
  Whether it was this try or an earlier one that published, the event is settled; every tick
  the node deletes its settled entries from the outbox in one transaction and then drops their
  publication records from Redis (no one can try them again once the entry is gone). An event
  whose publication failed (Redis did not answer) is not settled: it stays for the relay.
- **The relay** — on exactly one node at a time, the holder of a lease in the cluster state
  (`ClusterState.hold_lease`) — takes the entries whose publication is overdue (stored more
  than `grace_seconds` ago) in a transaction, publishes their events in (stream, seq) order
  through the same once-only publication, and commits. Overdue means their node died between
  commit and publish, or its publication failed. A relay that dies mid-way rolls back; the
  next holder (the lease lapses after `lease_seconds`) takes the same entries, and whatever
  the dead relay did publish is skipped by the once-only publication. A node that starts runs
  one relay pass before it serves, so a node restarted alone publishes what it left behind.

Why "overdue" rather than "the node was reaped": reaping waits for the dead node's heartbeat
key to expire (8 s TTL, up to 2 s more to the next sweep); an overdue publication is seen
`grace_seconds` after the crash. The relay never needs to know whether a node is dead: the
once-only publication makes publishing a live node's slow event harmless.

Records of publications the relay made are kept (a committing node that was only slow may
still try them) and trimmed by age after `marks_kept_seconds`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from ..store.base import RecordStore, StoredEvent, StoreUnavailable
from .fanout import PublishFailed, SocketPublisher

__all__ = ["RELAY_LEASE", "LeaseHolder", "OutboxRelay", "OutboxTimings"]

RELAY_LEASE = "outbox-relay"
_TAKE_BATCH = 200

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class OutboxTimings:
    grace_seconds: float = 1.0  # unpublished this long after it was stored: overdue
    tick_seconds: float = 0.25  # how often settled entries go and the relay looks
    lease_seconds: float = 3.0  # a relay that stops renewing its lease hands over after this
    marks_kept_seconds: float = 600.0  # a relay's publication records are trimmed after this


class LeaseHolder(Protocol):
    """The part of `ClusterState` the relay needs; any ClusterState fits."""

    async def hold_lease(self, name: str, ttl_seconds: float) -> bool: ...

    async def release_lease(self, name: str) -> None: ...


class OutboxRelay:
    """The EventPublisher of a cluster node (its own events), and the relay (everyone's)."""

    def __init__(
        self,
        store: RecordStore,
        leases: LeaseHolder,
        sockets: SocketPublisher,
        timings: OutboxTimings | None = None,
        *,
        now: Callable[[], float] = time.time,
        on_recovered: Callable[[int], None] | None = None,
    ) -> None:
        self.store = store
        self.leases = leases
        self.sockets = sockets
        self.timings = timings or OutboxTimings()
        self.now = now
        self.on_recovered = on_recovered
        self.recovered_total = 0  # events this node published for another publisher
        self._settled: list[StoredEvent] = []
        self._task: asyncio.Task[None] | None = None
        self._trimmed_at = 0.0

    # -- the committing node -------------------------------------------------------------------
    async def publish(self, events: Sequence[StoredEvent]) -> None:
        for event in events:
            try:
                await self.sockets.publish_one(event, once=True)
            except PublishFailed as exc:
                # Still in the outbox: the relay publishes it once Redis answers again.
                _log.warning("outbox: %s %s#%s left to the relay: %s",
                             event.name, event.stream, event.seq, exc)  # fmt: skip
                continue
            self._settled.append(event)

    async def forget_settled(self) -> None:
        """Delete the settled entries, then their publication records; kept for the next tick
        when the store refuses (the records only once the entries are gone)."""
        settled, self._settled = self._settled, []
        if not settled:
            return
        try:
            await self.store.forget_outbox([(e.stream, e.seq) for e in settled])
        except StoreUnavailable:
            self._settled[:0] = settled
            raise
        # Best effort: a record left behind is only trimmed later.
        with contextlib.suppress(PublishFailed):
            await self.sockets.manager.forget_published([e.event_id for e in settled])

    # -- the relay -----------------------------------------------------------------------------
    async def relay(self) -> int:
        """Publish every overdue event (this node must hold the lease); how many it sent.
        PublishFailed or StoreUnavailable: nothing taken, the next pass tries again."""
        sent = 0
        while True:
            async with self.store.transaction() as uow:
                overdue = await uow.take_outbox(self.now() - self.timings.grace_seconds,
                                                _TAKE_BATCH)  # fmt: skip
                for event in overdue:
                    sent += await self._recover(event)
            if len(overdue) < _TAKE_BATCH:
                break
        if sent:
            self.recovered_total += sent
            if self.on_recovered is not None:
                self.on_recovered(sent)
            _log.warning("outbox: published %d overdue events their node never published", sent)
        return sent

    async def _recover(self, event: StoredEvent) -> int:
        return 1 if await self.sockets.publish_one(event, once=True) else 0

    async def tick(self) -> None:
        await self.forget_settled()
        if not await self.leases.hold_lease(RELAY_LEASE, self.timings.lease_seconds):
            return
        await self.relay()
        now = self.now()
        if now - self._trimmed_at >= self.timings.marks_kept_seconds / 10:
            self._trimmed_at = now
            await self.sockets.manager.trim_published(now - self.timings.marks_kept_seconds)

    # -- lifecycle -----------------------------------------------------------------------------
    async def start(self) -> None:
        """One pass before the node serves (a node restarted alone publishes what it left
        behind), then a pass every tick."""
        await self._tick_logged()
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        with contextlib.suppress(StoreUnavailable, PublishFailed):
            await self.forget_settled()
        with contextlib.suppress(StoreUnavailable):  # lapses by itself otherwise
            await self.leases.release_lease(RELAY_LEASE)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.timings.tick_seconds)
            await self._tick_logged()

    async def _tick_logged(self) -> None:
        try:
            await self.tick()
        except (StoreUnavailable, PublishFailed) as exc:
            # A backend is away; /healthz says so. Nothing is lost: the entries wait.
            _log.warning("outbox relay: %s", exc)
        except Exception:  # the relay must outlive any surprise, or overdue events wait forever
            _log.exception("outbox relay failed")
