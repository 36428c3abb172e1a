"""A task runner on a real SQLite (or PostgreSQL) store with a recording publisher."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.spec import AI_TASK_EVENTS, AI_TASK_TERMINAL_EVENTS, Limits
from reference_server.ai.journal import TaskJournal
from reference_server.ai.task_runner import TaskRunner
from reference_server.collab.notifications import CollabRecordService
from reference_server.domain.clock import SystemClock
from reference_server.state.memory import MemoryClusterState
from reference_server.store import RecordStore, StoredEvent

__all__ = ["Recorder", "TaskBench", "make_bench"]


@dataclass
class Recorder:
    published: list[StoredEvent] = field(default_factory=list)

    async def publish(self, events: Sequence[StoredEvent]) -> None:
        self.published.extend(events)

    def of(self, task_id: str) -> list[StoredEvent]:
        return [
            e
            for e in self.published
            if e.name in AI_TASK_EVENTS and e.payload.get("taskId") == task_id
        ]

    def names(self, task_id: str) -> list[str]:
        return [e.name for e in self.of(task_id)]

    async def wait_terminal(self, task_id: str, within: float = 5.0) -> str:
        for _ in range(int(within / 0.01)):
            ends = [n for n in self.names(task_id) if n in AI_TASK_TERMINAL_EVENTS]
            if ends:
                return ends[0]
            await asyncio.sleep(0.01)
        raise AssertionError(f"task {task_id} did not finish: {self.names(task_id)}")


@dataclass
class TaskBench:
    store: RecordStore
    runner: TaskRunner
    records: CollabRecordService
    recorder: Recorder


def make_bench(store: RecordStore, node: str = "node-1", **limits: Any) -> TaskBench:
    recorder = Recorder()
    records = CollabRecordService(store, MemoryClusterState(), recorder, Limits(), SystemClock())
    journal = TaskJournal(store, recorder, SystemClock())
    runner = TaskRunner(journal, lambda: records, node, **limits)
    return TaskBench(store, runner, records, recorder)
