"""The task runner in-process on a real SQLite store: event sequences, durable state,
bounded concurrency, cancellation and restart recovery (AI-2..AI-7, §15)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from task_bench import TaskBench, make_bench

from harness.spec import ErrorCode, ServerEvent
from reference_server.ai.model import TaskStatus, TaskType, TaskView
from reference_server.domain.contracts import Actor, DomainError
from reference_server.store import open_store

ALICE = Actor("u-alice", "t-1", "b-1", "Alice")
BOB = Actor("u-bob", "t-1", "b-1", "Bob")
ESCROW = {"address": "4 Quay St", "purchasePrice": 250000}


@pytest.fixture
async def bench(tmp_path: Path) -> AsyncIterator[TaskBench]:
    store = open_store(f"sqlite:///{tmp_path}/ai.sqlite3")
    await store.open()
    made = make_bench(store, per_user=1, per_node=2)
    try:
        yield made
    finally:
        await made.runner.stop()
        await store.close()


async def test_create_escrow_sequence_and_state(bench: TaskBench) -> None:
    """AI-2, AI-3, AI-6, AI-7: started, five progress events 20..100, completed with the
    escrow's id; the escrow's data event says via ai with the task id; the stored task says
    completed with result and finishedAt."""
    view = await bench.runner.submit(ALICE, TaskType.CREATE_ESCROW, {**ESCROW, "stepDelayMs": 0})
    assert await bench.recorder.wait_terminal(view.task_id) == ServerEvent.AI_TASK_COMPLETED
    events = bench.recorder.of(view.task_id)
    assert [e.name for e in events] == [ServerEvent.AI_TASK_STARTED,
                                        *[ServerEvent.AI_TASK_PROGRESS] * 5,
                                        ServerEvent.AI_TASK_COMPLETED]  # fmt: skip
    assert [e.payload["progress"] for e in events[1:6]] == [20, 40, 60, 80, 100]
    assert {e.stream for e in events} == {"user:u-alice"}
    escrow_id = events[-1].payload["result"]["escrowId"]
    created = [e for e in bench.recorder.published if e.name == "escrow:created"]
    assert [(e.payload["entityId"], e.payload["via"], e.payload["taskId"]) for e in created] == [
        (escrow_id, "ai", view.task_id)
    ]
    stored = (await bench.runner.get(ALICE, view.task_id)).wire()
    assert stored["status"] == "completed" and stored["result"] == {"escrowId": escrow_id}
    assert stored["progress"] == 100 and "finishedAt" in stored


async def test_invalid_params_fail_where_the_spec_says(bench: TaskBench) -> None:
    """AI-4, §15: no purchasePrice fails at step 4 after three progress events; a bad
    stepDelayMs fails right after started; a bad row fails with row and created, whose
    escrow remains."""
    no_price = await bench.runner.submit(
        ALICE, TaskType.CREATE_ESCROW, {"address": "x", "stepDelayMs": 0}
    )
    bad_delay = await bench.runner.submit(
        BOB, TaskType.CREATE_ESCROW, {**ESCROW, "stepDelayMs": 9000}
    )
    for task in (no_price, bad_delay):
        assert await bench.recorder.wait_terminal(task.task_id) == ServerEvent.AI_TASK_FAILED
    assert bench.recorder.names(no_price.task_id).count(ServerEvent.AI_TASK_PROGRESS) == 3
    assert bench.recorder.names(bad_delay.task_id) == [ServerEvent.AI_TASK_STARTED,
                                                       ServerEvent.AI_TASK_FAILED]  # fmt: skip
    rows = [ESCROW, {"address": "no price"}]
    batch = await bench.runner.submit(
        ALICE, TaskType.IMPORT_ESCROWS, {"rows": rows, "stepDelayMs": 0}
    )
    await bench.recorder.wait_terminal(batch.task_id)
    failed = bench.recorder.of(batch.task_id)[-1].payload
    assert failed["error"]["code"] == ErrorCode.VALIDATION_ERROR.value
    assert failed["error"]["details"]["row"] == 1 and isinstance(failed["message"], str)
    (kept,) = failed["error"]["details"]["created"]
    assert await bench.store.get_record("escrow", kept) is not None


async def test_per_user_limit_queues_and_cancel_while_queued(bench: TaskBench) -> None:
    """AI-5, §15: with one task per user, Alice's second task waits queued; cancelling it
    emits only `cancelled`; her first task still completes; another user's cancel is
    NOT_FOUND and a finished task's is TASK_FINISHED."""
    first = await bench.runner.submit(ALICE, TaskType.CREATE_ESCROW, {**ESCROW, "stepDelayMs": 50})
    second = await bench.runner.submit(ALICE, TaskType.IMPORT_ESCROWS, {"rows": []})
    assert (await bench.runner.get(ALICE, second.task_id)).status is TaskStatus.QUEUED
    with pytest.raises(DomainError) as foreign:
        await bench.runner.cancel(BOB, second.task_id)
    assert foreign.value.code is ErrorCode.NOT_FOUND
    cancelled = await bench.runner.cancel(ALICE, second.task_id)
    assert cancelled.status is TaskStatus.CANCELLED
    assert bench.recorder.names(second.task_id) == [ServerEvent.AI_TASK_CANCELLED]
    assert await bench.recorder.wait_terminal(first.task_id) == ServerEvent.AI_TASK_COMPLETED
    with pytest.raises(DomainError) as finished:
        await bench.runner.cancel(ALICE, first.task_id)
    assert finished.value.code is ErrorCode.TASK_FINISHED
    assert bench.recorder.names(second.task_id) == [ServerEvent.AI_TASK_CANCELLED]


async def test_cancel_while_running_stops_before_the_next_step(bench: TaskBench) -> None:
    """AI-5: a cancel during a step's pause ends the task at once with `cancelled`; no
    escrow is created and nothing follows."""
    task = await bench.runner.submit(ALICE, TaskType.CREATE_ESCROW, {**ESCROW, "stepDelayMs": 5000})
    for _ in range(200):
        if ServerEvent.AI_TASK_STARTED in bench.recorder.names(task.task_id):
            break
        await asyncio.sleep(0.01)
    view = await bench.runner.cancel(ALICE, task.task_id)
    assert view.status is TaskStatus.CANCELLED
    assert bench.recorder.names(task.task_id) == [ServerEvent.AI_TASK_STARTED,
                                                  ServerEvent.AI_TASK_CANCELLED]  # fmt: skip
    assert not [e for e in bench.recorder.published if e.name == "escrow:created"]


def _mark_running(view: TaskView) -> list[tuple[str, dict[str, str]]]:
    view.status = TaskStatus.RUNNING
    return []


async def test_restart_fails_what_the_node_left_running(tmp_path: Path) -> None:
    """AI-7: tasks a crashed node left queued or running are failed when it starts again
    (with `ai:task:failed`), not left running forever; another node's tasks are untouched."""
    store = open_store(f"sqlite:///{tmp_path}/ai.sqlite3")
    await store.open()
    try:
        crashed = make_bench(store, node="node-1", per_node=0)  # runs nothing: "dies" at once
        other = make_bench(store, node="node-2", per_node=0)
        queued = await crashed.runner.submit(ALICE, TaskType.CREATE_ESCROW, ESCROW)
        running = await crashed.runner.submit(ALICE, TaskType.CREATE_ESCROW, ESCROW)
        await crashed.runner.journal.commit(running.task_id, _mark_running)
        theirs = await other.runner.submit(BOB, TaskType.CREATE_ESCROW, ESCROW)
        restarted = make_bench(store, node="node-1")
        await restarted.runner.start()
        for task in (queued, running):
            after = await restarted.runner.get(ALICE, task.task_id)
            assert after.status is TaskStatus.FAILED and after.error is not None
            assert after.error["code"] == ErrorCode.INTERNAL.value
            assert restarted.recorder.names(task.task_id) == [ServerEvent.AI_TASK_FAILED]
        assert not (await restarted.runner.get(BOB, theirs.task_id)).finished
    finally:
        await store.close()


async def test_graceful_stop_fails_running_tasks_at_once(bench: TaskBench) -> None:
    """AI-3, AI-7: a node that stops cuts its tasks short at the next step boundary and
    fails them right away (the user is told now, not at the next start)."""
    task = await bench.runner.submit(ALICE, TaskType.CREATE_ESCROW, {**ESCROW, "stepDelayMs": 5000})
    for _ in range(200):
        if bench.recorder.names(task.task_id):
            break
        await asyncio.sleep(0.01)
    await bench.runner.stop()
    assert bench.recorder.names(task.task_id) == [ServerEvent.AI_TASK_STARTED,
                                                  ServerEvent.AI_TASK_FAILED]  # fmt: skip
    assert (await bench.runner.get(ALICE, task.task_id)).status is TaskStatus.FAILED


async def test_cancel_from_another_node_cuts_the_pause_short(bench: TaskBench) -> None:
    """AI-5, CLU-1: a cancel that arrives through another node (a runner sharing the store)
    stops a task in its 5 s pause within a fraction of it, and the ack says cancelled."""
    task = await bench.runner.submit(ALICE, TaskType.CREATE_ESCROW, {**ESCROW, "stepDelayMs": 5000})
    for _ in range(200):
        if bench.recorder.names(task.task_id):
            break
        await asyncio.sleep(0.01)
    elsewhere = make_bench(bench.store, node="node-2")
    started = asyncio.get_running_loop().time()
    view = await elsewhere.runner.cancel(ALICE, task.task_id)
    assert view.status is TaskStatus.CANCELLED
    assert asyncio.get_running_loop().time() - started < 2.0
    assert bench.recorder.names(task.task_id) == [ServerEvent.AI_TASK_STARTED,
                                                  ServerEvent.AI_TASK_CANCELLED]  # fmt: skip
