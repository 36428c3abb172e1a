"""WAL checkpoints for the SQLite store, off the event loop.

The writer runs with `wal_autocheckpoint = 0`: SQLite's automatic checkpoint runs inside the
COMMIT that crosses the threshold and fsyncs the WAL and the database file, which would stall
the event loop (the writer runs on it). Here a third connection, on aiosqlite's thread,
checkpoints PASSIVE (never blocks the writer or readers) once enough commits have piled up or
a second has passed since the last one, so the WAL stays small.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

import aiosqlite

from .._tasks import stop_task

__all__ = ["CHECKPOINT_EVERY_COMMITS", "CHECKPOINT_INTERVAL_S", "Checkpointer"]

CHECKPOINT_INTERVAL_S = 1.0
CHECKPOINT_EVERY_COMMITS = 500

_log = logging.getLogger(__name__)


class Checkpointer:
    """Owns one connection and one task; `note_commit()` after each write transaction."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn
        self._commits = 0
        self._due = asyncio.Event()
        self._task = asyncio.create_task(self._run())
        self.checkpoints = 0

    @classmethod
    async def open(cls, path: Path, busy_timeout_ms: int) -> Checkpointer:
        conn = await aiosqlite.connect(path, isolation_level=None)
        try:
            await conn.execute(f"PRAGMA busy_timeout = {busy_timeout_ms}")
        except BaseException:
            await conn.close()
            raise
        return cls(conn)

    def note_commit(self) -> None:
        self._commits += 1
        if self._commits >= CHECKPOINT_EVERY_COMMITS:
            self._due.set()

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._due.wait(), CHECKPOINT_INTERVAL_S)
            self._due.clear()
            if self._commits == 0:
                continue
            self._commits = 0
            try:
                await self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                self.checkpoints += 1
            except aiosqlite.Error:  # the next round tries again; the WAL only grows meanwhile
                _log.warning("SQLite WAL checkpoint failed", exc_info=True)

    async def close(self) -> None:
        await stop_task(self._task)
        with contextlib.suppress(aiosqlite.Error):  # leave a short WAL behind for the next open
            await self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        await self._conn.close()
