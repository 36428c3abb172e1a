"""The embedded backend: one SQLite file under the server's data dir (single node, CLU-2).

Writes go through ONE connection, one transaction at a time (an asyncio.Lock plus
`BEGIN IMMEDIATE`, which also keeps a second process on the same file out); reads use a
second connection so that they never see a transaction that has not committed (EVT-5). WAL
mode lets that reader run while the writer writes; `synchronous=NORMAL` in WAL mode loses
nothing when the process dies, only on power loss.

A write transaction runs its statements on the event loop's own thread, without awaiting.
Profiled under 10,000 users: routed through aiosqlite's thread, each of a change's ~8
statements waited a full event-loop turn (tens of ms under load) while holding the one write
lock, so the write path collapsed at ~70 changes/s into a lock convoy. Each statement is
microseconds against the page cache (no fsync: WAL with synchronous=NORMAL syncs only when it
checkpoints), so running them inline costs the loop far less than one turn. Checkpoints, the
one step that fsyncs, run off the loop on their own connection (`_Checkpointer`).
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from ..domain.clock import Clock, SystemClock
from ._sql import SCHEMA, SqlReads
from ._sql_uow import SqlUnitOfWork
from ._sqlite_upkeep import Checkpointer
from .base import StoreUnavailable, UnitOfWork

__all__ = ["SqliteRecordStore"]

_BUSY_TIMEOUT_MS = 5000
# BEGIN IMMEDIATE on a file another process is writing: retried without blocking the loop.
_BUSY_RETRY_S = (0.001, 0.05)
_BUSY_CODES = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)  # primary codes (low byte)


class _Executor:
    """Reads outside a transaction: on aiosqlite's thread, they may scan.

    Each read is one trip to that thread (`execute_fetchall`): through a cursor it was three
    (execute, fetch, close), each a queue hand-off and a wake-up of the event loop from the
    thread, for what is mostly a lookup by key (issue 13 item 3)."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.conn = conn

    async def fetch_all(self, sql: str, args: Sequence[Any] = ()) -> list[Sequence[Any]]:
        return list(await self.conn.execute_fetchall(sql, tuple(args)))

    async def fetch_one(self, sql: str, args: Sequence[Any] = ()) -> Sequence[Any] | None:
        """The first row of a query that yields at most one (by key, or an aggregate): the
        whole result is fetched."""
        rows = list(await self.conn.execute_fetchall(sql, tuple(args)))
        return tuple(rows[0]) if rows else None

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> None:
        await self.conn.execute(sql, tuple(args))


class _InlineExecutor:
    """A write transaction's statements, run on the calling (event-loop) thread at once:
    point reads and writes by primary key, microseconds each, so the write lock is never held
    across event-loop turns."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    async def fetch_all(self, sql: str, args: Sequence[Any] = ()) -> list[Sequence[Any]]:
        return list(self.conn.execute(sql, tuple(args)).fetchall())

    async def fetch_one(self, sql: str, args: Sequence[Any] = ()) -> Sequence[Any] | None:
        row = self.conn.execute(sql, tuple(args)).fetchone()
        return None if row is None else tuple(row)

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> None:
        self.conn.execute(sql, tuple(args))


class _KeyReads:
    """Reads by key on the event loop's thread, on a read-only connection of their own (so
    they see committed data only, EVT-5): microseconds against the page cache, where a trip
    to aiosqlite's thread is a hand-off each way and a wake-up of the loop (a `sync`'s stream
    heads, a record's visibility check; issue 13 item 3). It never waits inside SQLite
    (busy timeout 0): a read that finds the database busy goes to the thread instead."""

    def __init__(self, conn: sqlite3.Connection, fallback: Callable[[], _Executor]) -> None:
        self.conn = conn
        self.fallback = fallback  # aiosqlite's thread, asked for only when needed

    async def fetch_all(self, sql: str, args: Sequence[Any] = ()) -> list[Sequence[Any]]:
        try:
            # fetchall: the statement ends here, so no read snapshot outlives the call.
            return list(self.conn.execute(sql, tuple(args)).fetchall())
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode & 0xFF not in _BUSY_CODES:
                raise
        return await self.fallback().fetch_all(sql, args)

    async def fetch_one(self, sql: str, args: Sequence[Any] = ()) -> Sequence[Any] | None:
        rows = await self.fetch_all(sql, args)
        return tuple(rows[0]) if rows else None

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> None:
        await self.fallback().execute(sql, args)


class SqliteRecordStore(SqlReads):
    """`RecordStore` on a SQLite file; `path` is created (with its folder) on `open()`."""

    def __init__(
        self, path: str | Path, *, clock: Clock | None = None, outbox_node: str | None = None
    ) -> None:
        self.path = Path(path)
        self.clock = clock or SystemClock()
        self.outbox_node = outbox_node
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._key_reader: sqlite3.Connection | None = None
        self._checkpointer: Checkpointer | None = None
        self._write_lock = asyncio.Lock()

    def read_db(self) -> _Executor:
        if self._reader is None:
            raise StoreUnavailable("the SQLite store is not open")
        return _Executor(self._reader)

    def key_db(self) -> _KeyReads:
        if self._key_reader is None:
            raise StoreUnavailable("the SQLite store is not open")
        return _KeyReads(self._key_reader, self.read_db)

    async def open(self) -> None:
        if self._writer is not None:
            return
        opened: list[aiosqlite.Connection] = []
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # check_same_thread=False: transactions use the connection from the loop's thread.
            writer = await aiosqlite.connect(
                self.path, isolation_level=None, check_same_thread=False
            )
            opened.append(writer)
            await writer.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
            await writer.execute("PRAGMA journal_mode = WAL")
            await writer.execute("PRAGMA synchronous = NORMAL")
            for statement in SCHEMA:
                await writer.execute(statement)
            # From here the writer never waits inside SQLite (that would block the loop):
            # BEGIN retries asynchronously, and the checkpointer does the fsyncing.
            await writer.execute("PRAGMA busy_timeout = 0")
            await writer.execute("PRAGMA wal_autocheckpoint = 0")
            reader = await aiosqlite.connect(self.path, isolation_level=None)
            opened.append(reader)
            await reader.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
            await reader.execute("PRAGMA query_only = ON")
            checkpointer = await Checkpointer.open(self.path, _BUSY_TIMEOUT_MS)
            try:
                key_reader = _open_key_reader(self.path)
            except sqlite3.Error:
                await checkpointer.close()
                raise
        except (OSError, aiosqlite.Error) as exc:
            for conn in opened:  # a half-open store would leak its connection threads
                await conn.close()
            raise StoreUnavailable(f"cannot open SQLite database {self.path}: {exc}") from exc
        self._writer, self._reader, self._checkpointer = writer, reader, checkpointer
        self._key_reader = key_reader

    async def close(self) -> None:
        async with self._write_lock:
            if self._checkpointer is not None:
                await self._checkpointer.close()
            if self._key_reader is not None:
                self._key_reader.close()
            for conn in (self._reader, self._writer):
                if conn is not None:
                    await conn.close()
            self._writer = self._reader = self._checkpointer = self._key_reader = None

    async def ping(self) -> bool:
        try:
            return await self.read_db().fetch_one("SELECT 1") is not None
        except (StoreUnavailable, aiosqlite.Error, ValueError):
            return False

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[UnitOfWork]:
        async with self._write_lock:
            if self._writer is None:
                raise StoreUnavailable("the SQLite store is not open")
            conn = self._writer._conn  # the sqlite3 connection behind aiosqlite's thread
            await _begin_immediate(conn)
            try:
                yield SqlUnitOfWork(
                    _InlineExecutor(conn), self.clock.now, lock_rows=False,
                    outbox_node=self.outbox_node,
                )  # fmt: skip
                conn.execute("COMMIT")
            except BaseException:
                # Whatever failed (the caller, or COMMIT itself), the one writer connection must
                # leave the transaction, or every later BEGIN would fail.
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        if self._checkpointer is not None:
            self._checkpointer.note_commit()


def _open_key_reader(path: Path) -> sqlite3.Connection:
    # timeout=0: never wait inside SQLite on the loop's thread (`_KeyReads` falls back).
    conn = sqlite3.connect(path, timeout=0, isolation_level=None, check_same_thread=False)
    try:
        conn.execute("PRAGMA query_only = ON")
    except sqlite3.Error:
        conn.close()
        raise
    return conn


async def _begin_immediate(conn: sqlite3.Connection) -> None:
    """BEGIN IMMEDIATE, waiting up to the busy timeout for another process's writer, but
    on the loop (asyncio.sleep) rather than inside SQLite."""
    deadline = time.monotonic() + _BUSY_TIMEOUT_MS / 1000
    pause = _BUSY_RETRY_S[0]
    while True:
        try:
            conn.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY or time.monotonic() >= deadline:
                raise
        await asyncio.sleep(pause)
        pause = min(pause * 2, _BUSY_RETRY_S[1])
