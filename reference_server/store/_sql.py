"""SQL shared by the SQLite and PostgreSQL backends: one schema, one set of statements.

Both backends speak the same SQL through a tiny `SqlExecutor` seam; statements are written with
`?` placeholders and the PostgreSQL executor numbers them (`$1`, `$2`, ...). The type names in
the schema are ones both engines accept (SQLite maps BIGINT/DOUBLE PRECISION to its own
affinities), JSON travels as TEXT, and `archived` is 0/1, so no statement branches on backend.
Only claiming an idempotency key differs (PostgreSQL needs a row lock across nodes).
"""

from __future__ import annotations

import heapq
import itertools
import json
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from ._sql_tasks import TASK_SCHEMA, SqlTaskReads
from .base import OutboxKey, StoredEvent, UnitOfWork

__all__ = [
    "EVENT_COLUMNS",
    "OUTBOX_BATCH",
    "PENDING_STATUS",
    "PURGE_BATCH",
    "RECORD_COLUMNS",
    "SCHEMA",
    "SqlExecutor",
    "SqlReads",
    "dump_json",
    "event_from_row",
    "placeholders",
    "record_args",
]

SCHEMA: tuple[str, ...] = (
    """CREATE TABLE IF NOT EXISTS records (
        entity_type TEXT NOT NULL,
        id TEXT NOT NULL,
        owner_id TEXT NOT NULL,
        team_id TEXT NOT NULL,
        broker_id TEXT NOT NULL,
        visibility TEXT NOT NULL,
        created_at TEXT NOT NULL,
        archived INTEGER NOT NULL,
        version BIGINT NOT NULL,
        data TEXT NOT NULL,
        PRIMARY KEY (entity_type, id)
    )""",
    # One index per audience: the list query has one branch per visibility (REC-1, REC-3).
    "CREATE INDEX IF NOT EXISTS records_by_team"
    " ON records (entity_type, team_id, visibility, archived, created_at)",
    "CREATE INDEX IF NOT EXISTS records_by_broker"
    " ON records (entity_type, broker_id, visibility, archived, created_at)",
    "CREATE INDEX IF NOT EXISTS records_by_owner"
    " ON records (entity_type, owner_id, visibility, archived, created_at)",
    """CREATE TABLE IF NOT EXISTS events (
        stream TEXT NOT NULL,
        seq BIGINT NOT NULL,
        event_id TEXT NOT NULL,
        name TEXT NOT NULL,
        payload TEXT NOT NULL,
        owner_id TEXT,
        entity_type TEXT,
        timestamp TEXT NOT NULL,
        stored_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (stream, seq)
    )""",
    """CREATE TABLE IF NOT EXISTS stream_heads (
        stream TEXT NOT NULL PRIMARY KEY,
        head BIGINT NOT NULL
    )""",
    # The transactional outbox of a cluster node: the events it committed and has not yet
    # published (or not yet forgotten). Written with the event, deleted once published.
    """CREATE TABLE IF NOT EXISTS outbox (
        stream TEXT NOT NULL,
        seq BIGINT NOT NULL,
        node TEXT NOT NULL,
        stored_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (stream, seq)
    )""",
    """CREATE TABLE IF NOT EXISTS idempotency (
        user_id TEXT NOT NULL,
        key TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        status INTEGER NOT NULL,
        body TEXT,
        extra TEXT NOT NULL,
        stored_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (user_id, key)
    )""",
    *TASK_SCHEMA,
)

# An idempotency row with this status is a claim in progress, never a remembered result.
PENDING_STATUS = 0
PURGE_BATCH = 500
# Outbox rows per statement: what a relay takes at once, and a flush's chunk of keys.
OUTBOX_BATCH = 200

EVENT_COLUMNS = "event_id, stream, seq, name, payload, owner_id, entity_type, timestamp, stored_at"
RECORD_COLUMNS = (
    "entity_type, id, owner_id, team_id, broker_id, visibility, created_at, archived, version, data"
)


class SqlExecutor(Protocol):
    """One connection (or a pool) that runs `?`-placeholder SQL; rows index by position."""

    async def fetch_all(self, sql: str, args: Sequence[Any] = ()) -> list[Sequence[Any]]: ...

    async def fetch_one(self, sql: str, args: Sequence[Any] = ()) -> Sequence[Any] | None: ...

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> None: ...


def dump_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def placeholders(count: int) -> str:
    return ", ".join("?" for _ in range(count))


def event_from_row(row: Sequence[Any]) -> StoredEvent:
    return StoredEvent(
        event_id=row[0],
        stream=row[1],
        seq=int(row[2]),
        name=row[3],
        payload=json.loads(row[4]),
        owner_id=row[5],
        entity_type=row[6],
        timestamp=row[7],
        stored_at=float(row[8]),
    )


def record_args(entity_type: str, record: Mapping[str, Any]) -> tuple[Any, ...]:
    return (
        entity_type,
        str(record["id"]),
        str(record["ownerId"]),
        str(record["teamId"]),
        str(record["brokerId"]),
        str(record["visibility"]),
        str(record["createdAt"]),
        1 if record.get("archived") else 0,
        int(record["version"]),
        dump_json(dict(record)),
    )


class SqlReads(SqlTaskReads):
    """The store's reads outside a transaction (they see committed data only), and upkeep
    that needs nothing but transactions.

    A backend mixes this in and says, through `read_db`, where reads go.
    """

    def read_db(self) -> SqlExecutor:
        raise NotImplementedError

    def key_db(self) -> SqlExecutor:
        """Where reads by key go (one row per key, no scan): `read_db` unless the backend has
        a cheaper place for them."""
        return self.read_db()

    def transaction(self) -> AbstractAsyncContextManager[UnitOfWork]:
        raise NotImplementedError

    async def purge_idempotency_keys(self, stored_before: float) -> int:
        # Batches in separate transactions: SQLite's one writer is never held for long.
        forgotten = 0
        while True:
            async with self.transaction() as uow:
                batch = await uow.forget_idempotency_keys(stored_before, PURGE_BATCH)
            forgotten += batch
            if batch < PURGE_BATCH:
                return forgotten

    async def forget_outbox(self, keys: Sequence[OutboxKey]) -> None:
        if keys:
            async with self.transaction() as uow:
                await uow.forget_outbox(keys)

    async def get_record(self, entity_type: str, record_id: str) -> dict[str, Any] | None:
        row = await self.key_db().fetch_one(
            "SELECT data FROM records WHERE entity_type = ? AND id = ?", (entity_type, record_id)
        )
        return None if row is None else dict(json.loads(row[0]))

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
        # One branch per audience (REC-1), each a range of its own index; the branches are
        # disjoint by visibility, so UNION ALL and a sum of counts are exact. An OR of the three
        # would make the engine scan every record of the type.
        archived = "" if include_archived else " AND archived = 0"
        branches = [
            (f"entity_type = ? AND {column} = ? AND visibility = '{visibility}'{archived}", value)
            for visibility, column, value in (
                ("team", "team_id", team_id),
                ("broker", "broker_id", broker_id),
                ("private", "owner_id", user_id),
            )
        ]
        args: list[Any] = [a for _, value in branches for a in (entity_type, value)]
        counts = " + ".join(f"(SELECT COUNT(*) FROM records WHERE {w})" for w, _ in branches)
        total_row = await self.read_db().fetch_one(f"SELECT {counts}", args)
        union = " UNION ALL ".join(
            f"SELECT data, created_at, id FROM records WHERE {w}" for w, _ in branches
        )
        rows = await self.read_db().fetch_all(
            f"{union} ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?",
            [*args, int(limit), int(offset)],
        )
        total = int(total_row[0]) if total_row is not None else 0
        return [dict(json.loads(r[0])) for r in rows], total

    async def read_stream(
        self, stream: str, after_seq: int, limit: int | None = None
    ) -> list[StoredEvent]:
        sql = f"SELECT {EVENT_COLUMNS} FROM events WHERE stream = ? AND seq > ? ORDER BY seq"
        args: list[Any] = [stream, int(after_seq)]
        if limit is not None:
            sql += " LIMIT ?"
            args.append(int(limit))
        return [event_from_row(r) for r in await self.read_db().fetch_all(sql, args)]

    async def stream_heads(self, streams: Sequence[str]) -> dict[str, int]:
        heads = dict.fromkeys(streams, 0)
        if not streams:
            return heads
        rows = await self.key_db().fetch_all(
            f"SELECT stream, head FROM stream_heads WHERE stream IN ({placeholders(len(streams))})",
            list(streams),
        )
        heads.update({r[0]: int(r[1]) for r in rows})
        return heads

    async def recent_events(
        self, streams: Sequence[str], limit: int, names_prefixes: Sequence[str] | None = None
    ) -> list[StoredEvent]:
        # Newest `limit` of each stream by walking its primary key backwards, then a merge:
        # the feed costs O(limit) per stream however long the streams grow.
        names = ""
        name_args: list[Any] = []
        if names_prefixes:
            names = " AND (" + " OR ".join("name LIKE ? ESCAPE '\\'" for _ in names_prefixes) + ")"
            name_args = [_like_prefix(p) for p in names_prefixes]
        newest_first: list[list[StoredEvent]] = []
        for stream in dict.fromkeys(streams):
            rows = await self.read_db().fetch_all(
                f"SELECT {EVENT_COLUMNS} FROM events WHERE stream = ?{names}"
                " ORDER BY seq DESC LIMIT ?",
                [stream, *name_args, int(limit)],
            )
            newest_first.append([event_from_row(r) for r in rows])
        merged = heapq.merge(*newest_first, key=lambda e: e.stored_at, reverse=True)
        return list(itertools.islice(merged, max(int(limit), 0)))

    async def iter_all_events(self, page_size: int = 500) -> AsyncIterator[StoredEvent]:
        last: tuple[str, int] = ("", 0)
        while True:
            rows = await self.read_db().fetch_all(
                f"SELECT {EVENT_COLUMNS} FROM events"
                " WHERE stream > ? OR (stream = ? AND seq > ?) ORDER BY stream, seq LIMIT ?",
                (last[0], last[0], last[1], page_size),
            )
            for row in rows:
                yield event_from_row(row)
            if len(rows) < page_size:
                return
            last = (rows[-1][1], int(rows[-1][2]))


def _like_prefix(prefix: str) -> str:
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"
