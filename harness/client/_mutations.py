"""`MutationQueue`: changes made while offline, sent as `mutate` when the socket is back (§8).

Each queued mutation gets its `mutationId` once, at enqueue time, so flushing the queue twice
(a lost ack, a second reconnect) must apply each change once (MUT-2, MUT-3).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.spec import ClientEvent, Op

from ._messages import Ack
from ._realtime import RealtimeClient

__all__ = ["FlushResult", "Mutation", "MutationQueue"]


@dataclass(frozen=True, slots=True)
class Mutation:
    op: Op
    entity_type: str
    record_id: str | None = None
    changes: Mapping[str, Any] | None = None
    expected_version: int | None = None
    mutation_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def to_payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "mutationId": self.mutation_id,
            "op": self.op.value,
            "entityType": self.entity_type,
        }
        if self.record_id is not None:
            payload["id"] = self.record_id
        if self.changes is not None:
            payload["changes"] = dict(self.changes)
        if self.expected_version is not None:
            payload["expectedVersion"] = self.expected_version
        return payload


@dataclass(frozen=True, slots=True)
class FlushResult:
    mutation: Mutation
    ack: Ack


class MutationQueue:
    """FIFO of mutations; `flush` sends them in order and keeps those that got no answer."""

    def __init__(self, *, keep_sent: bool = False) -> None:
        self._pending: list[Mutation] = []
        self.sent: list[Mutation] = []  # every mutation sent at least once, for re-sending
        self.keep_sent = keep_sent
        self.results: list[FlushResult] = []

    def enqueue(
        self,
        op: Op | str,
        entity_type: str,
        *,
        record_id: str | None = None,
        changes: Mapping[str, Any] | None = None,
        expected_version: int | None = None,
    ) -> Mutation:
        mutation = Mutation(Op(op), entity_type, record_id, changes, expected_version)
        self._pending.append(mutation)
        return mutation

    def add(self, mutation: Mutation) -> None:
        self._pending.append(mutation)

    @property
    def pending(self) -> tuple[Mutation, ...]:
        return tuple(self._pending)

    def __len__(self) -> int:
        return len(self._pending)

    async def flush(self, client: RealtimeClient, *, timeout: float = 5.0) -> list[FlushResult]:  # noqa: ASYNC109
        """Send each pending mutation in order; one that timed out stays queued for next time.

        A mutation the server answered (ok or refused) leaves the queue: re-sending a refused
        change would be refused again. Stops at the first time-out to keep the order.
        """
        done: list[FlushResult] = []
        while self._pending and client.connected:
            mutation = self._pending[0]
            ack = await client.request(ClientEvent.MUTATE, mutation.to_payload(), timeout=timeout)
            result = FlushResult(mutation, ack)
            done.append(result)
            self.results.append(result)
            if mutation not in self.sent:
                self.sent.append(mutation)
            if ack.timed_out:
                break
            self._pending.pop(0)
        return done

    def requeue_sent(self) -> None:
        """Put every already-sent mutation back (same mutationIds): a client that lost its acks."""
        self._pending = [*self.sent, *[m for m in self._pending if m not in self.sent]]

    def attach(self, client: RealtimeClient) -> None:
        """Flush automatically after each `client.reconnect()`."""

        async def flush_on_connect(connected: RealtimeClient) -> None:
            await self.flush(connected)

        client.on_connected(flush_on_connect)
