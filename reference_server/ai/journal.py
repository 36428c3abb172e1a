"""Task state and task events, written together (AI-3, AI-7).

Every change of a task is one store transaction: the row is read under lock (so a cancel from
another node and the runner never overwrite each other), changed, saved, and the events that
announce the change are appended to the user's stream last; they are published after commit
through the normal publisher, so they reach the user's sockets on every node and replay like
any durable event.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..domain.clock import Clock, iso_from_epoch
from ..domain.contracts import EventPublisher
from ..store.base import NewEvent, RecordStore
from .model import TaskView

__all__ = ["TaskChange", "TaskJournal"]

_log = logging.getLogger(__name__)

# Changes the view in place and returns the events to emit, or None to write nothing.
TaskChange = Callable[[TaskView], Sequence[tuple[str, Mapping[str, Any]]] | None]


class TaskJournal:
    def __init__(self, store: RecordStore, publisher: EventPublisher, clock: Clock) -> None:
        self.store = store
        self.publisher = publisher
        self.clock = clock

    def now_iso(self) -> str:
        return iso_from_epoch(self.clock.now())

    async def create(self, view: TaskView) -> None:
        async with self.store.transaction() as uow:
            await uow.save_task(view.to_row())

    async def get(self, task_id: str) -> TaskView | None:
        row = await self.store.get_task(task_id)
        return None if row is None else TaskView.from_row(row)

    async def history(self, user_id: str, limit: int) -> list[TaskView]:
        return [TaskView.from_row(r) for r in await self.store.list_tasks(user_id, limit)]

    async def unfinished(self, node: str) -> list[TaskView]:
        return [TaskView.from_row(r) for r in await self.store.unfinished_tasks(node)]

    async def commit(self, task_id: str, change: TaskChange) -> TaskView | None:
        """Apply `change` to the stored task; the task after it, or None if nothing changed."""
        async with self.store.transaction() as uow:
            row = await uow.get_task(task_id)
            if row is None:
                return None
            view = TaskView.from_row(row)
            announced = change(view)
            if announced is None:
                return None
            await uow.save_task(view.to_row())
            stored = []
            for name, payload in announced:  # last: a stream head stays locked until commit
                event = NewEvent(
                    stream=f"user:{view.actor.user_id}",
                    name=name,
                    payload={"taskId": view.task_id, **payload},
                    owner_id=None,  # task events carry nothing sensitive (RED-4)
                )
                stored.append(await uow.append_event(event))
        if stored:
            try:
                await self.publisher.publish(stored)
            except Exception:  # stored and durable: the user recovers them by `sync`
                _log.exception("publishing task events failed")
        return view
