"""The cluster backend: PostgreSQL through an asyncpg pool, shared by every node (CLU-1).

Several nodes write at once, so the transaction itself keeps the invariants: the idempotency
key is claimed by the FIRST statement (an insert that waits for any concurrent holder of the
key, MUT-2), the record is read `FOR UPDATE`, and each stream's head row is bumped by an upsert
whose row lock lasts until commit, so `seq` is gapless per stream across nodes (STR-1). Only a
committed success leaves its key behind; a rollback frees it. A server that cannot be reached
raises `StoreUnavailable` within seconds, never hangs.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import re
from collections.abc import AsyncIterator, Awaitable, Sequence
from contextlib import asynccontextmanager, suppress
from typing import Any, TypeVar

import asyncpg

from ..domain.clock import Clock, SystemClock
from ._sql import EVENT_COLUMNS, PENDING_STATUS, SCHEMA, SqlReads
from ._sql_uow import SqlUnitOfWork, event_row
from .base import (
    IdempotencyEntry,
    InvalidDatabaseUrl,
    NewEvent,
    StoredEvent,
    StoreUnavailable,
    UnitOfWork,
)

__all__ = ["PostgresRecordStore"]

CONNECT_TIMEOUT_SECONDS = 3.0
PING_TIMEOUT_SECONDS = 2.0
ACQUIRE_TIMEOUT_SECONDS = 5.0
# Ample for a statement queued behind a stream head or a duplicate's key (milliseconds when
# healthy); past it the database counts as unreachable.
COMMAND_TIMEOUT_SECONDS = 5.0
# Handing a connection back is instant when healthy; in a partition it is left to finish alone.
RELEASE_WAIT_SECONDS = 1.0
_SCHEMA_LOCK_KEY = 0x43524D5F  # advisory lock: nodes starting together create the schema once
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")

# What "the server is not there" looks like from asyncpg; anything else is a real error.
_UNREACHABLE: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    # A connection the server cut can fail with "another operation is in progress".
    asyncpg.InternalClientError,
)

T = TypeVar("T")


@functools.lru_cache(maxsize=256)
def _numbered(sql: str) -> str:
    """`?` placeholders (the shared SQL's) to asyncpg's `$1, $2, ...`."""
    parts = sql.split("?")
    return "".join(f"{part}${i}" for i, part in enumerate(parts[:-1], start=1)) + parts[-1]


async def _reachable(operation: Awaitable[T]) -> T:
    try:
        return await operation
    except _UNREACHABLE as exc:
        raise StoreUnavailable(f"PostgreSQL unavailable: {exc.__class__.__name__}: {exc}") from exc


class _Executor:
    """Runs shared SQL on one connection: a transaction's."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def _run(self, method: str, sql: str, args: Sequence[Any]) -> Any:
        return await _reachable(getattr(self.conn, method)(_numbered(sql), *args))

    async def fetch_all(self, sql: str, args: Sequence[Any] = ()) -> list[Sequence[Any]]:
        return list(await self._run("fetch", sql, args))

    async def fetch_one(self, sql: str, args: Sequence[Any] = ()) -> Sequence[Any] | None:
        row = await self._run("fetchrow", sql, args)
        return None if row is None else tuple(row)

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> None:
        await self._run("execute", sql, args)


class _PoolExecutor(_Executor):
    """Reads outside a transaction, each on a pool connection taken and given back within
    timeouts (asyncpg's pool shortcuts give a connection back without one, which a network
    partition can stall for minutes). Retried once: a connection the server cut while idle in
    the pool only shows it when used, and the retry gets a fresh one."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def _run(self, method: str, sql: str, args: Sequence[Any]) -> Any:
        for attempt in range(2):
            try:
                conn = await _reachable(self.pool.acquire(timeout=ACQUIRE_TIMEOUT_SECONDS))
                try:
                    return await _reachable(getattr(conn, method)(_numbered(sql), *args))
                finally:
                    await _give_back(self.pool, conn)
            except StoreUnavailable:
                if attempt == 1:
                    raise
        raise AssertionError("unreachable")


async def _give_back(pool: asyncpg.Pool, conn: asyncpg.Connection) -> None:
    with suppress(TimeoutError):
        await _abandon_after(pool.release(conn), RELEASE_WAIT_SECONDS)


async def _abandon_after(operation: Awaitable[T], seconds: float) -> T:
    """`operation`'s result, or TimeoutError after `seconds` WITHOUT waiting for it to wind
    down: cancelling a query on a partitioned connection can itself take long."""
    task = asyncio.ensure_future(operation)
    # Referenced until done, even if our caller is cancelled while waiting for it.
    _IN_FLIGHT.add(task)
    task.add_done_callback(_settle)
    done, _ = await asyncio.wait({task}, timeout=seconds)
    if task in done:
        return task.result()
    task.cancel()
    raise TimeoutError(f"no answer within {seconds} s")


_IN_FLIGHT: set[asyncio.Future[Any]] = set()


def _settle(task: asyncio.Future[Any]) -> None:
    _IN_FLIGHT.discard(task)
    if not task.cancelled():
        task.exception()  # marked retrieved: an abandoned one's failure interests nobody


# One round trip from taking the stream's head lock to the event row: the lock is held until
# commit, so every statement after it lengthens the queue of writers to that stream.
_APPEND_EVENT = (
    "WITH head AS (INSERT INTO stream_heads (stream, head) VALUES (?, 1) ON CONFLICT (stream)"
    " DO UPDATE SET head = stream_heads.head + 1 RETURNING head)"
    f" INSERT INTO events ({EVENT_COLUMNS})"
    " SELECT ?, ?, head.head, ?, ?, ?, ?, ?, ?::double precision FROM head RETURNING seq"
)
# The same round trip with the event's outbox entry (a cluster node): still one statement.
_APPEND_EVENT_TO_OUTBOX = (
    "WITH head AS (INSERT INTO stream_heads (stream, head) VALUES (?, 1) ON CONFLICT (stream)"
    " DO UPDATE SET head = stream_heads.head + 1 RETURNING head),"
    f" appended AS (INSERT INTO events ({EVENT_COLUMNS})"
    " SELECT ?, ?, head.head, ?, ?, ?, ?, ?, ?::double precision FROM head"
    " RETURNING stream, seq, stored_at)"
    " INSERT INTO outbox (stream, seq, node, stored_at)"
    " SELECT stream, seq, ?, stored_at FROM appended RETURNING seq"
)


class _PostgresUnitOfWork(SqlUnitOfWork):
    async def append_event(self, event: NewEvent) -> StoredEvent:
        draft = self.stamp(event, 0)
        values = event_row(draft)
        args: tuple[Any, ...] = (draft.stream, *values[:2], *values[3:])
        if self.outbox_node is None:
            row = await self.db.fetch_one(_APPEND_EVENT, args)
        else:
            row = await self.db.fetch_one(_APPEND_EVENT_TO_OUTBOX, (*args, self.outbox_node))
        assert row is not None  # RETURNING always yields the row
        return dataclasses.replace(draft, seq=int(row[0]))

    async def claim_idempotency_key(self, user_id: str, key: str) -> IdempotencyEntry | None:
        # Inserting a placeholder waits for any transaction holding the same key; if that one
        # commits we read its result, if it rolls back our insert wins (MUT-2).
        await self.db.execute(
            "INSERT INTO idempotency (user_id, key, fingerprint, status, body, extra, stored_at)"
            " VALUES (?, ?, '', ?, NULL, '{}', ?) ON CONFLICT (user_id, key) DO NOTHING",
            (user_id, key, PENDING_STATUS, float(self.now())),
        )
        return await self.read_idempotency_key(user_id, key)


class PostgresRecordStore(SqlReads):
    """`RecordStore` on PostgreSQL; tables live in `schema` (created if missing)."""

    def __init__(
        self,
        dsn: str,
        schema: str = "public",
        *,
        clock: Clock | None = None,
        max_connections: int = 10,
        command_timeout: float = COMMAND_TIMEOUT_SECONDS,
        outbox_node: str | None = None,
    ) -> None:
        if _IDENTIFIER.fullmatch(schema) is None:
            raise InvalidDatabaseUrl(f"schema {schema!r} is not a plain SQL identifier")
        self.dsn = dsn
        self.schema = schema
        self.clock = clock or SystemClock()
        self.max_connections = max_connections
        self.command_timeout = command_timeout
        self.outbox_node = outbox_node
        self._pool: asyncpg.Pool | None = None

    def _require_pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise StoreUnavailable("the PostgreSQL store is not open")
        return self._pool

    def read_db(self) -> _PoolExecutor:
        return _PoolExecutor(self._require_pool())

    async def open(self) -> None:
        if self._pool is not None:
            return
        try:
            pool = await asyncio.wait_for(
                asyncpg.create_pool(
                    self.dsn,
                    min_size=1,
                    max_size=self.max_connections,
                    timeout=CONNECT_TIMEOUT_SECONDS,
                    command_timeout=self.command_timeout,
                    server_settings={"search_path": f'"{self.schema}"'},
                ),
                timeout=CONNECT_TIMEOUT_SECONDS * 2,
            )
        except (*_UNREACHABLE, asyncpg.PostgresError) as exc:
            raise StoreUnavailable(f"cannot connect to PostgreSQL: {exc}") from exc
        try:
            async with pool.acquire(timeout=ACQUIRE_TIMEOUT_SECONDS) as conn, conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock($1)", _SCHEMA_LOCK_KEY)
                await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
                for statement in SCHEMA:
                    await conn.execute(statement)
        except BaseException as exc:
            pool.terminate()  # not close(): that would wait on connections that may be dead
            if isinstance(exc, _UNREACHABLE):
                raise StoreUnavailable(f"cannot prepare PostgreSQL: {exc}") from exc
            raise
        self._pool = pool

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                await asyncio.wait_for(pool.close(), timeout=ACQUIRE_TIMEOUT_SECONDS)
            except TimeoutError:
                pool.terminate()

    async def ping(self) -> bool:
        # Bounded below the command timeout: /healthz must answer while it matters.
        try:
            probe = self.read_db().fetch_one("SELECT 1")
            return await _abandon_after(probe, PING_TIMEOUT_SECONDS) is not None
        except (StoreUnavailable, TimeoutError):
            return False

    async def _begin(self, pool: asyncpg.Pool) -> tuple[asyncpg.Connection, Any]:
        """A connection with a transaction started; a second try when the first connection
        turns out dead (nothing has happened on it yet, so retrying is safe)."""
        for attempt in range(2):
            conn = await _reachable(pool.acquire(timeout=ACQUIRE_TIMEOUT_SECONDS))
            tx = conn.transaction()
            try:
                await _reachable(tx.start())
            except StoreUnavailable:
                await _give_back(pool, conn)
                if attempt == 1:
                    raise
                continue
            return conn, tx
        raise AssertionError("unreachable")

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[UnitOfWork]:
        pool = self._require_pool()
        conn, tx = await self._begin(pool)
        try:
            try:
                yield _PostgresUnitOfWork(
                    _Executor(conn), self.clock.now, lock_rows=True, outbox_node=self.outbox_node
                )
            except BaseException:
                # A dead connection cannot roll back; the server drops its transaction anyway,
                # and releasing the connection below resets it.
                with suppress(*_UNREACHABLE):
                    await tx.rollback()
                raise
            await _reachable(tx.commit())
        finally:
            await _give_back(pool, conn)
