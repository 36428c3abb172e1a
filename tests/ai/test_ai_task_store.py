"""The ai_tasks table behind the store seam, on SQLite and PostgreSQL alike (AI-7): rows
round-trip, a user's history is theirs and newest first, a node finds what it left
unfinished, and a rolled-back transaction leaves no row."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from reference_server.store import RecordStore, open_store
from reference_server.store.base import StoredTask

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.cluster)]


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Sync, because the PostgreSQL fixture creates its database with asyncio.run."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/tasks.sqlite3"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[RecordStore]:
    opened = open_store(store_url)
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


def _task(task_id: str, user: str, node: str, status: str, created: str) -> StoredTask:
    return StoredTask(task_id, user, node, status, created,
                      {"taskId": task_id, "type": "create_escrow", "progress": 0})  # fmt: skip


async def test_task_rows_round_trip(store: RecordStore) -> None:
    """AI-7: saved rows read back; updates replace status and data; history is per user,
    newest first; unfinished_tasks finds a node's queued and running tasks only."""
    rows = [
        _task("t1", "u1", "node-1", "running", "2026-11-26T12:00:00.001Z"),
        _task("t2", "u1", "node-2", "queued", "2026-11-26T12:00:00.002Z"),
        _task("t3", "u2", "node-1", "queued", "2026-11-26T12:00:00.003Z"),
        _task("t4", "u1", "node-1", "completed", "2026-11-26T12:00:00.004Z"),
    ]
    async with store.transaction() as uow:
        for row in rows:
            await uow.save_task(row)
    async with store.transaction() as uow:
        locked = await uow.get_task("t2")
        assert locked is not None and locked.status == "queued"
        await uow.save_task(
            StoredTask(
                "t2",
                "u1",
                "node-2",
                "cancelled",
                locked.created_at,
                {**locked.data, "progress": 0, "status": "cancelled"},
            )
        )
    again = await store.get_task("t2")
    assert again is not None and again.status == "cancelled"
    assert again.data["status"] == "cancelled" and again.data["taskId"] == "t2"
    assert [t.task_id for t in await store.list_tasks("u1", 10)] == ["t4", "t2", "t1"]
    assert [t.task_id for t in await store.list_tasks("u1", 1)] == ["t4"]
    assert sorted(t.task_id for t in await store.unfinished_tasks("node-1")) == ["t1", "t3"]
    assert await store.get_task("nope") is None


async def test_rolled_back_task_is_not_saved(store: RecordStore) -> None:
    """AI-7: a task row written in a transaction that fails is not there afterwards."""
    with pytest.raises(RuntimeError):
        async with store.transaction() as uow:
            await uow.save_task(_task("gone", "u1", "node-1", "queued", "2026-11-26T12:00:00Z"))
            raise RuntimeError("abort")
    assert await store.get_task("gone") is None
