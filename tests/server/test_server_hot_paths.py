"""The write path and loop upkeep that let one node hold 10,000 users (docs/benchmarks.md).

CLU-2 / STR-1: SQLite write transactions run inline on the event loop, WAL checkpoints run off it;
a second writer on the same file is waited for without blocking the loop. GC policy and the
loop-health log are profiling and latency aids: they must not change behaviour.
"""

from __future__ import annotations

import asyncio
import gc
import json
import sqlite3
import time
from pathlib import Path

import pytest

from reference_server.realtime.gc_policy import GcPolicy
from reference_server.realtime.loop_health import LOOP_HEALTH_ENV, LoopHealth
from reference_server.store import _sqlite_upkeep
from reference_server.store.base import NewEvent
from reference_server.store.sqlite import SqliteRecordStore


def _wal_bytes(db: Path) -> int:
    wal = db.with_name(db.name + "-wal")
    return wal.stat().st_size if wal.exists() else 0


async def test_checkpoints_keep_the_wal_short_and_commits_stay_durable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CLU-2: with automatic checkpoints off on the writer, the checkpointer still folds the
    WAL into the database; every committed event is there after a reopen."""
    monkeypatch.setattr(_sqlite_upkeep, "CHECKPOINT_EVERY_COMMITS", 20)
    db = tmp_path / "crm.sqlite3"
    store = SqliteRecordStore(db)
    await store.open()
    for _ in range(60):
        async with store.transaction() as uow:
            await uow.append_event(NewEvent("team:t", "lead:created", {"pad": "x" * 2000}))
    checkpointer = store._checkpointer
    assert checkpointer is not None
    for _ in range(100):
        if checkpointer.checkpoints:
            break
        await asyncio.sleep(0.02)
    assert checkpointer.checkpoints >= 1
    await store.close()
    assert _wal_bytes(db) == 0  # TRUNCATE on close

    reopened = SqliteRecordStore(db)
    await reopened.open()
    try:
        events = await reopened.read_stream("team:t", 0)
        assert [e.seq for e in events] == list(range(1, 61))
    finally:
        await reopened.close()


async def test_a_writer_waiting_on_another_process_lets_the_loop_run(tmp_path: Path) -> None:
    """STR-1, CLU-2: while another connection holds the file's write lock, BEGIN is retried
    with asyncio sleeps — other coroutines keep running — and succeeds once it is released."""
    db = tmp_path / "crm.sqlite3"
    store = SqliteRecordStore(db)
    await store.open()
    other = sqlite3.connect(db, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.01)

        async def write() -> int:
            async with store.transaction() as uow:
                return (await uow.append_event(NewEvent("team:t", "lead:created", {}))).seq

        ticking = asyncio.create_task(ticker())
        writing = asyncio.create_task(write())
        await asyncio.sleep(0.3)
        assert not writing.done()
        assert ticks >= 10  # the loop was not blocked inside SQLite
        other.execute("COMMIT")
        assert await asyncio.wait_for(writing, 5) == 1
        ticking.cancel()
    finally:
        other.close()
        await store.close()


async def test_gc_policy_freezes_survivors_and_restores_on_stop() -> None:
    """Latency aid: survivors move to the permanent generation; stop() undoes it all."""
    before = gc.get_threshold()
    policy = GcPolicy(freeze_every_s=0.05, full_every_s=0.1)
    policy.start()
    try:
        assert gc.get_threshold() == (
            policy.young_threshold,
            policy.middle_threshold,
            policy.old_threshold,
        )
        assert gc.get_freeze_count() > 0
        gc.unfreeze()  # what the periodic freeze must redo
        await asyncio.sleep(0.3)
        assert gc.get_freeze_count() > 0
    finally:
        await policy.stop()
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


async def test_loop_health_logs_lag_and_gc_pauses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Profiling aid: off without the variable; with it, one JSON line a second with the
    worst loop lag (a deliberate 150 ms block shows) and the GC collections that ran."""
    monkeypatch.delenv(LOOP_HEALTH_ENV, raising=False)
    assert LoopHealth.from_env() is None
    log = tmp_path / "health.jsonl"
    monkeypatch.setenv(LOOP_HEALTH_ENV, str(log))
    health = LoopHealth.from_env()
    assert health is not None
    health.start()
    try:
        await asyncio.sleep(0.1)
        time.sleep(0.15)  # noqa: ASYNC251 - the point: a blocking call stalls the loop
        gc.collect()
        await asyncio.sleep(1.1)
    finally:
        await health.stop()
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert lines
    assert max(line["lag_max_ms"] for line in lines) >= 100
    assert sum(line["gc"][2] for line in lines) >= 1
