"""The storage seam: records, the per-stream event log and idempotency keys (SPEC §4, §7, §8).

A backend (SQLite embedded, PostgreSQL for a cluster) implements `RecordStore`. Every change goes
through one `UnitOfWork`: the record write, its events (each given the next `seq` of its stream)
and the idempotency key commit together or not at all — a transactional outbox, so that after a
crash no change exists without its event and no event without its change (CLU-2). Events are
emitted to sockets only after `commit` returns (EVT-5).

A cluster node's store also keeps the other half of the outbox: each event it commits stays in
an outbox table until its publication is settled, so that when a node dies between commit and
publish another node can still publish the event live (`realtime.outbox.OutboxRelay`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = [
    "IdempotencyEntry",
    "InvalidDatabaseUrl",
    "NewEvent",
    "OutboxKey",
    "RecordStore",
    "StoreUnavailable",
    "StoredEvent",
    "StoredTask",
    "UnitOfWork",
]


# An outbox entry: the event's (stream, seq).
OutboxKey = tuple[str, int]


class StoreUnavailable(Exception):
    """The backend cannot be reached: REST answers 503/INTERNAL and `/healthz` 503."""


@dataclass(frozen=True, slots=True)
class NewEvent:
    """A durable event before it has a seq. `payload` excludes eventId/stream/seq/timestamp.

    `owner_id` is whose copy stays unredacted (RED-2); None means the payload holds nothing
    sensitive for anyone (notifications, AI task events).
    """

    stream: str
    name: str
    payload: Mapping[str, Any]
    owner_id: str | None = None
    entity_type: str | None = None


@dataclass(frozen=True, slots=True)
class StoredEvent:
    event_id: str
    stream: str
    seq: int
    name: str
    payload: Mapping[str, Any]  # true values; redact per recipient on the way out
    owner_id: str | None
    entity_type: str | None
    timestamp: str  # TRN-4 form, set when stored
    stored_at: float  # epoch seconds, for the replay window (STR-3)

    def wire(self) -> dict[str, Any]:
        """The unredacted wire payload: what the owner receives."""
        return {
            **self.payload,
            "eventId": self.event_id,
            "stream": self.stream,
            "seq": self.seq,
            "timestamp": self.timestamp,
        }


@dataclass(frozen=True, slots=True)
class IdempotencyEntry:
    """A remembered successful change (MUT-2): the request's fingerprint and its result."""

    fingerprint: str
    status: int
    body: Mapping[str, Any] | None
    stored_at: float
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StoredTask:
    """An AI task's row (SPEC §11): `data` is its AI-7 JSON plus what the runner needs."""

    task_id: str
    user_id: str
    node: str  # the node that runs it: a restarted node fails what it left unfinished
    status: str
    created_at: str
    data: Mapping[str, Any]


class UnitOfWork(Protocol):
    """One transaction. Reads inside it see its own writes; nothing is visible before commit.

    Order matters where several nodes write at once (PostgreSQL): claim the idempotency key
    first, then take row locks (`get_record`, `get_task`), write, and append events LAST, in
    stream-name order. A stream's head row stays locked from `append_event` to commit, so
    anything after it makes every writer of that stream wait, and taking locks in another
    order can deadlock.
    """

    async def claim_idempotency_key(self, user_id: str, key: str) -> IdempotencyEntry | None:
        """Reserve `key` for this transaction, or return the entry already committed for it.

        A concurrent transaction holding the same key makes this wait until it ends (MUT-2:
        two concurrent requests with one key change the data once).
        """

    async def remember_idempotency_key(
        self, user_id: str, key: str, entry: IdempotencyEntry
    ) -> None: ...

    async def forget_idempotency_keys(self, stored_before: float, limit: int) -> int:
        """Delete up to `limit` keys remembered before `stored_before`; how many went."""

    async def get_record(self, entity_type: str, record_id: str) -> dict[str, Any] | None:
        """The record, locked against concurrent writers until the transaction ends."""

    async def insert_record(self, entity_type: str, record: Mapping[str, Any]) -> None: ...

    async def update_record(self, entity_type: str, record: Mapping[str, Any]) -> None: ...

    async def delete_record(self, entity_type: str, record_id: str) -> None: ...

    async def append_event(self, event: NewEvent) -> StoredEvent:
        """Give the event the next seq of its stream (gapless, across nodes: STR-1); a store
        opened with an outbox node also puts the event in the outbox, in the same statement."""

    async def take_outbox(self, stored_before: float, limit: int) -> list[StoredEvent]:
        """Remove from the outbox up to `limit` entries stored before `stored_before` (their
        publication is overdue) and return their events, in (stream, seq) order. The removal
        counts only if the transaction commits: a taker that dies leaves them for the next."""

    async def forget_outbox(self, keys: Sequence[OutboxKey]) -> None:
        """Remove these outbox entries (their publication is settled); absent ones are fine."""

    async def get_task(self, task_id: str) -> StoredTask | None:
        """The AI task's row, locked against concurrent writers until the transaction ends."""

    async def save_task(self, task: StoredTask) -> None:
        """Insert or update an AI task's row (with its event, in one transaction)."""


class RecordStore(Protocol):
    async def open(self) -> None:
        """Connect and create the schema if it is missing."""

    async def close(self) -> None: ...

    async def ping(self) -> bool:
        """True while the backend answers (INF-3)."""

    def transaction(self) -> AbstractAsyncContextManager[UnitOfWork]:
        """Commits on a clean exit, rolls back on an exception."""

    async def get_record(self, entity_type: str, record_id: str) -> dict[str, Any] | None: ...

    async def list_records(
        self,
        entity_type: str,
        *,
        user_id: str,
        team_id: str,
        broker_id: str,
        limit: int,
        offset: int,
        include_archived: bool,
    ) -> tuple[list[dict[str, Any]], int]:
        """Records visible to the user (REC-1), newest `createdAt` first, ties by `id` (§15),
        descending: record ids grow with time, so a tie is newest first too."""

    async def read_stream(
        self, stream: str, after_seq: int, limit: int | None = None
    ) -> list[StoredEvent]:
        """Events with seq > after_seq, ascending (STR-2)."""

    async def stream_heads(self, streams: Sequence[str]) -> dict[str, int]:
        """Last seq of each stream; 0 for a stream with no events."""

    async def recent_events(
        self, streams: Sequence[str], limit: int, names_prefixes: Sequence[str] | None = None
    ) -> list[StoredEvent]:
        """Newest first across the given streams (the activity feed, COL-8)."""

    def iter_all_events(self) -> AsyncIterator[StoredEvent]:
        """Every stored event, for tests and tooling."""

    async def purge_idempotency_keys(self, stored_before: float) -> int:
        """Forget the keys remembered before `stored_before` (expired, MUT-2), in short
        transactions; how many were forgotten. Without it the key table only grows."""

    async def forget_outbox(self, keys: Sequence[OutboxKey]) -> None:
        """Remove these outbox entries in one transaction: the node that committed their
        events settled their publication."""

    async def get_task(self, task_id: str) -> StoredTask | None: ...

    async def list_tasks(self, user_id: str, limit: int) -> list[StoredTask]:
        """The user's AI tasks, newest first (AI-7)."""

    async def unfinished_tasks(self, node: str) -> list[StoredTask]:
        """Tasks `node` left queued or running (it restarted: they are failed, not resumed)."""


class InvalidDatabaseUrl(ValueError):
    """A database URL no backend understands; the message says what was expected."""
