"""`open_store` picks the backend by URL; the SQLite store's own guarantees."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiosqlite
import pytest

from reference_server.store import InvalidDatabaseUrl, NewEvent, StoreUnavailable, open_store
from reference_server.store.postgres import PostgresRecordStore
from reference_server.store.sqlite import SqliteRecordStore


def test_sqlite_urls_follow_sqlalchemy_spelling(tmp_path: Path) -> None:
    """CLU-2: `sqlite:///rel` is relative, `sqlite:////abs` absolute — a file under a data dir."""
    relative = open_store("sqlite:///data/crm.sqlite3")
    absolute = open_store(f"sqlite:///{tmp_path}/crm.sqlite3")
    assert isinstance(relative, SqliteRecordStore) and relative.path == Path("data/crm.sqlite3")
    assert isinstance(absolute, SqliteRecordStore) and absolute.path == tmp_path / "crm.sqlite3"


def test_postgres_urls_and_schema() -> None:
    """CLU-1: postgresql:// and postgres:// pick PostgreSQL; `schema` is ours, not libpq's."""
    store = open_store("postgresql://u@db:5432/crm?schema=node_1&sslmode=disable")
    assert isinstance(store, PostgresRecordStore)
    assert store.schema == "node_1" and store.dsn == "postgresql://u@db:5432/crm?sslmode=disable"
    legacy = open_store("postgres://u@db/crm")
    assert isinstance(legacy, PostgresRecordStore) and legacy.schema == "public"


@pytest.mark.parametrize(
    "url",
    [
        "mysql://u@h/db",
        "sqlite:///",
        "sqlite:///:memory:",
        "sqlite://relative-without-third-slash",
        "postgresql:///no-host",
        "postgresql://u@h/db?schema=bad;drop",
        "",
    ],
)
def test_unusable_urls_are_refused_clearly(url: str) -> None:
    """A bad database URL is one clear error, not a traceback from a driver."""
    with pytest.raises(InvalidDatabaseUrl):
        open_store(url)


async def test_sqlite_uses_wal_and_creates_its_folder(tmp_path: Path) -> None:
    """CLU-2: the file and its folder appear on open; WAL mode so readers never block writes."""
    path = tmp_path / "deep" / "er" / "crm.sqlite3"
    store = open_store(f"sqlite:///{path}")
    await store.open()
    await store.close()
    assert path.exists()
    async with aiosqlite.connect(path) as conn, conn.execute("PRAGMA journal_mode") as cursor:
        assert (await cursor.fetchone()) == ("wal",)


async def test_sqlite_unopenable_path_is_unavailable(tmp_path: Path) -> None:
    """INF-3: a data dir that cannot be created → StoreUnavailable, not a crash later."""
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    store = open_store(f"sqlite:///{blocker}/crm.sqlite3")
    with pytest.raises(StoreUnavailable):
        await store.open()
    assert not await store.ping()


async def test_sqlite_cancelled_transaction_rolls_back(tmp_path: Path) -> None:
    """REC-7: a request cancelled mid-transaction changes nothing and the store keeps working."""
    store = open_store(f"sqlite:///{tmp_path}/crm.sqlite3")
    await store.open()
    inside = asyncio.Event()

    async def abandoned() -> None:
        async with store.transaction() as uow:
            await uow.append_event(NewEvent("team:t", "lead:created", {}))
            inside.set()
            await asyncio.sleep(30)

    task = asyncio.create_task(abandoned())
    await inside.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    try:
        assert await store.stream_heads(["team:t"]) == {"team:t": 0}
        async with store.transaction() as uow:
            assert (await uow.append_event(NewEvent("team:t", "lead:created", {}))).seq == 1
    finally:
        await store.close()


async def test_sqlite_failed_commit_leaves_the_store_usable(tmp_path: Path) -> None:
    """CLU-2, REC-7: a COMMIT that fails rolls back; the next transaction still works."""
    store = SqliteRecordStore(tmp_path / "crm.sqlite3")
    await store.open()
    writer = store._writer  # white box: a deferred foreign key is the one way to fail COMMIT
    assert writer is not None
    await writer.execute("PRAGMA foreign_keys = ON")
    await writer.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
    await writer.execute(
        "CREATE TABLE child (parent_id INTEGER"
        " REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)"
    )
    try:
        with pytest.raises(aiosqlite.IntegrityError):
            async with store.transaction() as uow:
                await uow.append_event(NewEvent("team:t", "lead:created", {}))
                await writer.execute("INSERT INTO child VALUES (42)")
        assert not writer.in_transaction
        assert await store.stream_heads(["team:t"]) == {"team:t": 0}
        async with store.transaction() as uow:
            assert (await uow.append_event(NewEvent("team:t", "lead:created", {}))).seq == 1
    finally:
        await store.close()


async def test_sqlite_two_stores_on_one_file_keep_seq_gapless(tmp_path: Path) -> None:
    """STR-1, CLU-2: an old and a new process briefly sharing a data dir (a restart) cannot
    break seq: BEGIN IMMEDIATE and the busy timeout serialise them through the file lock."""
    url = f"sqlite:///{tmp_path}/crm.sqlite3"
    stores = [open_store(url), open_store(url)]
    for store in stores:
        await store.open()

    async def append(store_index: int) -> int:
        async with stores[store_index].transaction() as uow:
            return (await uow.append_event(NewEvent("team:t", "lead:created", {}))).seq

    try:
        seqs = await asyncio.gather(*(append(i % 2) for i in range(40)))
        assert sorted(seqs) == list(range(1, 41))
        assert [e.seq for e in await stores[0].read_stream("team:t", 0)] == list(range(1, 41))
    finally:
        for store in stores:
            await store.close()
