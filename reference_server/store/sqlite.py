"""The embedded backend: one SQLite file under the server's data dir (single node, CLU-2).

Writes go through ONE connection, one transaction at a time (an asyncio.Lock plus
`BEGIN IMMEDIATE`, which also keeps a second process on the same file out); reads use a
second connection so that they never see a transaction that has not committed (EVT-5). WAL
mode lets that reader run while the writer writes; `synchronous=NORMAL` in WAL mode loses
nothing when the process dies, only on power loss.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from ..domain.clock import Clock, SystemClock
from ._sql import SCHEMA, SqlReads
from ._sql_uow import SqlUnitOfWork
from .base import StoreUnavailable, UnitOfWork

__all__ = ["SqliteRecordStore"]

_BUSY_TIMEOUT_MS = 5000


class _Executor:
    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.conn = conn

    async def fetch_all(self, sql: str, args: Sequence[Any] = ()) -> list[Sequence[Any]]:
        async with self.conn.execute(sql, tuple(args)) as cursor:
            return list(await cursor.fetchall())

    async def fetch_one(self, sql: str, args: Sequence[Any] = ()) -> Sequence[Any] | None:
        async with self.conn.execute(sql, tuple(args)) as cursor:
            row = await cursor.fetchone()
            return None if row is None else tuple(row)

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> None:
        await self.conn.execute(sql, tuple(args))


class SqliteRecordStore(SqlReads):
    """`RecordStore` on a SQLite file; `path` is created (with its folder) on `open()`."""

    def __init__(self, path: str | Path, *, clock: Clock | None = None) -> None:
        self.path = Path(path)
        self.clock = clock or SystemClock()
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._write_lock = asyncio.Lock()

    def read_db(self) -> _Executor:
        if self._reader is None:
            raise StoreUnavailable("the SQLite store is not open")
        return _Executor(self._reader)

    async def open(self) -> None:
        if self._writer is not None:
            return
        opened: list[aiosqlite.Connection] = []
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            writer = await aiosqlite.connect(self.path, isolation_level=None)
            opened.append(writer)
            await writer.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
            await writer.execute("PRAGMA journal_mode = WAL")
            await writer.execute("PRAGMA synchronous = NORMAL")
            for statement in SCHEMA:
                await writer.execute(statement)
            reader = await aiosqlite.connect(self.path, isolation_level=None)
            opened.append(reader)
            await reader.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
            await reader.execute("PRAGMA query_only = ON")
        except (OSError, aiosqlite.Error) as exc:
            for conn in opened:  # a half-open store would leak its connection threads
                await conn.close()
            raise StoreUnavailable(f"cannot open SQLite database {self.path}: {exc}") from exc
        self._writer, self._reader = writer, reader

    async def close(self) -> None:
        async with self._write_lock:
            for conn in (self._reader, self._writer):
                if conn is not None:
                    await conn.close()
            self._writer = self._reader = None

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
            writer = self._writer
            await writer.execute("BEGIN IMMEDIATE")
            try:
                yield SqlUnitOfWork(_Executor(writer), self.clock.now, lock_rows=False)
                await asyncio.shield(writer.execute("COMMIT"))
            except BaseException:
                # Whatever failed (the caller, or COMMIT itself), the one writer connection must
                # leave the transaction, or every later BEGIN would fail. Shielded so that a
                # cancelled request still cleans up.
                await asyncio.shield(_end_transaction(writer))
                raise


async def _end_transaction(writer: aiosqlite.Connection) -> None:
    if writer.in_transaction:
        await writer.execute("ROLLBACK")
