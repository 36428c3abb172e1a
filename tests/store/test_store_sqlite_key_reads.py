"""SQLite reads by key on the event loop's thread (`store.sqlite._KeyReads`, issue 13 item 3):
committed data only, no trip to aiosqlite's thread, and that thread when SQLite is busy."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from reference_server.store import NewEvent, StoreUnavailable
from reference_server.store.sqlite import SqliteRecordStore, _KeyReads


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteRecordStore]:
    opened = SqliteRecordStore(tmp_path / "key-reads.db")
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


def _no_thread(*_: Any) -> Any:
    raise AssertionError("a read by key went to aiosqlite's thread")


async def test_reads_by_key_see_commits_without_the_thread(
    store: SqliteRecordStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = {"id": "r1", "version": 1, "ownerId": "u-1", "teamId": "t-1", "brokerId": "b-1",
              "visibility": "team", "createdAt": "2026-12-08T00:00:00.000Z"}  # fmt: skip
    monkeypatch.setattr(store, "read_db", _no_thread)
    async with store.transaction() as uow:
        await uow.insert_record("escrow", record)
        await uow.append_event(NewEvent("team:t-1", "escrow:created", {}, "u-1", "escrow"))
        assert await store.get_record("escrow", "r1") is None  # not committed yet (EVT-5)
        assert await store.stream_heads(["team:t-1"]) == {"team:t-1": 0}
    assert await store.get_record("escrow", "r1") == record
    assert await store.stream_heads(["team:t-1", "team:t-2"]) == {"team:t-1": 1, "team:t-2": 0}


class _Busy:
    """A connection that answers every statement with an SQLite error of `code`."""

    def __init__(self, code: int) -> None:
        self.code = code

    def execute(self, *_: Any) -> Any:
        error = sqlite3.OperationalError("database is locked")
        error.sqlite_errorcode = self.code
        raise error


class _Thread:
    def __init__(self) -> None:
        self.asked: list[str] = []

    async def fetch_all(self, sql: str, args: Any = ()) -> list[Any]:
        self.asked.append(sql)
        return [("from the thread",)]


async def test_a_busy_database_sends_the_read_to_the_thread() -> None:
    thread = _Thread()
    busy_recovery = sqlite3.SQLITE_BUSY | (1 << 8)  # an extended code of SQLITE_BUSY
    for code in (sqlite3.SQLITE_BUSY, busy_recovery, sqlite3.SQLITE_LOCKED):
        reads = _KeyReads(_Busy(code), lambda: thread)  # type: ignore[arg-type, return-value]
        assert await reads.fetch_one("SELECT 1") == ("from the thread",)
    assert len(thread.asked) == 3
    with pytest.raises(sqlite3.OperationalError):  # any other error is the caller's
        await _KeyReads(_Busy(sqlite3.SQLITE_IOERR), lambda: thread).fetch_all("SELECT 1")  # type: ignore[arg-type, return-value]
    assert len(thread.asked) == 3


async def test_no_reads_after_close(tmp_path: Path) -> None:
    store = SqliteRecordStore(tmp_path / "closed.db")
    await store.open()
    await store.close()
    with pytest.raises(StoreUnavailable):
        await store.get_record("escrow", "r1")
