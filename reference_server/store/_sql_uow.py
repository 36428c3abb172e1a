"""One transaction's statements, shared by the SQLite and PostgreSQL backends (see `_sql`)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..domain.clock import iso_from_epoch
from ._sql import (
    EVENT_COLUMNS,
    OUTBOX_BATCH,
    PENDING_STATUS,
    RECORD_COLUMNS,
    SqlExecutor,
    dump_json,
    event_from_row,
    placeholders,
    record_args,
)
from ._sql_tasks import SqlTaskWrites
from .base import IdempotencyEntry, NewEvent, OutboxKey, StoredEvent

__all__ = ["SqlUnitOfWork", "event_row", "keys_in"]


class SqlUnitOfWork(SqlTaskWrites):
    """One transaction's reads and writes (the `UnitOfWork` seam).

    `lock_rows` adds `FOR UPDATE` to reads, for engines where several writers run at once
    (PostgreSQL); SQLite serialises whole transactions instead. `outbox_node` (a cluster node's
    name) puts every appended event in the outbox too, until it is published.
    """

    def __init__(
        self,
        db: SqlExecutor,
        now: Callable[[], float],
        *,
        lock_rows: bool,
        outbox_node: str | None = None,
    ) -> None:
        self.db = db
        self.now = now
        self.outbox_node = outbox_node
        self._for_update = " FOR UPDATE" if lock_rows else ""

    async def claim_idempotency_key(self, user_id: str, key: str) -> IdempotencyEntry | None:
        # With writers serialised, reading is claiming; PostgreSQL overrides this.
        return await self.read_idempotency_key(user_id, key)

    async def read_idempotency_key(self, user_id: str, key: str) -> IdempotencyEntry | None:
        row = await self.db.fetch_one(
            "SELECT fingerprint, status, body, extra, stored_at FROM idempotency"
            " WHERE user_id = ? AND key = ?" + self._for_update,
            (user_id, key),
        )
        if row is None or int(row[1]) == PENDING_STATUS:
            return None
        return IdempotencyEntry(
            fingerprint=row[0],
            status=int(row[1]),
            body=None if row[2] is None else json.loads(row[2]),
            stored_at=float(row[4]),
            extra=json.loads(row[3]),
        )

    async def remember_idempotency_key(
        self, user_id: str, key: str, entry: IdempotencyEntry
    ) -> None:
        await self.db.execute(
            "INSERT INTO idempotency (user_id, key, fingerprint, status, body, extra, stored_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (user_id, key) DO UPDATE SET"
            " fingerprint = excluded.fingerprint, status = excluded.status,"
            " body = excluded.body, extra = excluded.extra, stored_at = excluded.stored_at",
            (
                user_id,
                key,
                entry.fingerprint,
                int(entry.status),
                None if entry.body is None else dump_json(dict(entry.body)),
                dump_json(dict(entry.extra)),
                float(entry.stored_at),
            ),
        )

    async def forget_idempotency_keys(self, stored_before: float, limit: int) -> int:
        rows = await self.db.fetch_all(
            "DELETE FROM idempotency WHERE (user_id, key) IN (SELECT user_id, key"
            " FROM idempotency WHERE stored_at < ? AND status <> ? LIMIT ?) RETURNING 1",
            (float(stored_before), PENDING_STATUS, int(limit)),
        )
        return len(rows)

    async def get_record(self, entity_type: str, record_id: str) -> dict[str, Any] | None:
        row = await self.db.fetch_one(
            "SELECT data FROM records WHERE entity_type = ? AND id = ?" + self._for_update,
            (entity_type, record_id),
        )
        return None if row is None else dict(json.loads(row[0]))

    async def insert_record(self, entity_type: str, record: Mapping[str, Any]) -> None:
        await self.db.execute(
            f"INSERT INTO records ({RECORD_COLUMNS}) VALUES ({placeholders(10)})",
            record_args(entity_type, record),
        )

    async def update_record(self, entity_type: str, record: Mapping[str, Any]) -> None:
        args = record_args(entity_type, record)
        await self.db.execute(
            "UPDATE records SET owner_id = ?, team_id = ?, broker_id = ?, visibility = ?,"
            " created_at = ?, archived = ?, version = ?, data = ?"
            " WHERE entity_type = ? AND id = ?",
            (*args[2:], args[0], args[1]),
        )

    async def delete_record(self, entity_type: str, record_id: str) -> None:
        await self.db.execute(
            "DELETE FROM records WHERE entity_type = ? AND id = ?", (entity_type, record_id)
        )

    async def append_event(self, event: NewEvent) -> StoredEvent:
        # The upsert takes the stream's head row lock until commit: gapless seq (STR-1, CLU-1).
        row = await self.db.fetch_one(
            "INSERT INTO stream_heads (stream, head) VALUES (?, 1) ON CONFLICT (stream)"
            " DO UPDATE SET head = stream_heads.head + 1 RETURNING head",
            (event.stream,),
        )
        assert row is not None  # RETURNING always yields the row
        stored = self.stamp(event, int(row[0]))
        await self.db.execute(
            f"INSERT INTO events ({EVENT_COLUMNS}) VALUES ({placeholders(9)})",
            event_row(stored),
        )
        if self.outbox_node is not None:
            await self.db.execute(
                "INSERT INTO outbox (stream, seq, node, stored_at) VALUES (?, ?, ?, ?)",
                (stored.stream, stored.seq, self.outbox_node, stored.stored_at),
            )
        return stored

    async def take_outbox(self, stored_before: float, limit: int) -> list[StoredEvent]:
        # Deleted now, gone for others at commit; a rollback (the relay died) puts them back.
        # Concurrent takers (PostgreSQL) wait on the row locks and then find the rows gone.
        taken = await self.db.fetch_all(
            "DELETE FROM outbox WHERE (stream, seq) IN (SELECT stream, seq FROM outbox"
            " WHERE stored_at < ? ORDER BY stream, seq LIMIT ?) RETURNING stream, seq",
            (float(stored_before), min(int(limit), OUTBOX_BATCH)),
        )
        if not taken:
            return []
        keys = [(str(r[0]), int(r[1])) for r in taken]
        in_keys, args = keys_in(keys)
        rows = await self.db.fetch_all(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE {in_keys} ORDER BY stream, seq", args
        )
        return [event_from_row(r) for r in rows]

    async def forget_outbox(self, keys: Sequence[OutboxKey]) -> None:
        for start in range(0, len(keys), OUTBOX_BATCH):
            in_keys, args = keys_in(keys[start : start + OUTBOX_BATCH])
            await self.db.execute(f"DELETE FROM outbox WHERE {in_keys}", args)

    def stamp(self, event: NewEvent, seq: int) -> StoredEvent:
        """The event as stored: an id, its seq and the time (TRN-4, and STR-3's window)."""
        stored_at = float(self.now())
        return StoredEvent(
            event_id=str(uuid.uuid4()),
            stream=event.stream,
            seq=seq,
            name=event.name,
            payload=dict(event.payload),
            owner_id=event.owner_id,
            entity_type=event.entity_type,
            timestamp=iso_from_epoch(stored_at),
            stored_at=stored_at,
        )


def keys_in(keys: Sequence[OutboxKey]) -> tuple[str, list[Any]]:
    """`(stream, seq) IN (VALUES ...)` for both engines: SQLite wants a subquery on the
    right of a row-value IN, and PostgreSQL must be told that the seq parameters are numbers."""
    values = ", ".join("(?, CAST(? AS BIGINT))" for _ in keys)
    return f"(stream, seq) IN (VALUES {values})", [v for key in keys for v in key]


def event_row(stored: StoredEvent) -> tuple[Any, ...]:
    """Values in EVENT_COLUMNS order."""
    return (
        stored.event_id,
        stored.stream,
        stored.seq,
        stored.name,
        dump_json(dict(stored.payload)),
        stored.owner_id,
        stored.entity_type,
        stored.timestamp,
        stored.stored_at,
    )
