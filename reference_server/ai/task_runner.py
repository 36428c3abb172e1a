"""The AI task runner: asyncio tasks with bounded concurrency and a queue (AI-1..7).

Each node runs the tasks submitted to it: at most `per_user` at once for one user and
`per_node` in all; the rest wait in FIFO order. A task runs on whether or not its user stays
connected. Cancellation (from any node) is a flag on the stored task, checked before every
step; a cancel on the node running the task also cuts the current pause short. A node that
restarts fails what it left unfinished instead of leaving it `running` forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from harness.spec import EntityType, ErrorCode, Op, ServerEvent

from ..domain.contracts import Actor, ChangeRequest, DomainError
from ..transport_ports import Records
from .journal import TaskJournal
from .model import TaskFailure, TaskStatus, TaskType, TaskView, step_delay_ms
from .work import TASK_WORK

__all__ = ["DEFAULT_PER_NODE", "DEFAULT_PER_USER", "TaskCancelled", "TaskRunner"]

DEFAULT_PER_USER = 2
DEFAULT_PER_NODE = 8
_CANCEL_WAIT_SECONDS = 2.0
_STOP_WAIT_SECONDS = 2.0
_REMOTE_CANCEL_POLL_SECONDS = 0.25

_log = logging.getLogger(__name__)


class TaskCancelled(Exception):
    """Raised at a step boundary once a cancel was requested."""


class _NodeStopping(Exception):
    """Raised at a step boundary while the node shuts down: the task is left as it is, and
    the node's next start fails it (it never resumes half-done work)."""


def _fail(view: TaskView, error: DomainError, now: str) -> list[tuple[str, Mapping[str, Any]]]:
    view.status, view.error, view.finished_at = TaskStatus.FAILED, error.to_json(), now
    return [(ServerEvent.AI_TASK_FAILED, {"error": view.error, "message": error.message})]


class _Steps:
    """One running task's StepRunner."""

    def __init__(self, runner: TaskRunner, view: TaskView, delay_s: float) -> None:
        self.runner = runner
        self.view = view
        self.delay_s = delay_s
        self.progress = 0

    async def step(
        self, number: int, total: int, message: str,
        action: Callable[[], Awaitable[str]] | None = None,
    ) -> str | None:  # fmt: skip
        await self.runner.pause(self.view.task_id, self.delay_s)
        await self.runner.check_cancel(self.view.task_id)
        made = await action() if action is not None else None
        # Integer, never decreasing (AI-3).
        self.progress = max(self.progress, min(100, number * 100 // max(total, 1)))
        progress = self.progress

        def advance(view: TaskView) -> list[tuple[str, Mapping[str, Any]]] | None:
            if view.finished:
                return None
            view.progress = progress
            return [(ServerEvent.AI_TASK_PROGRESS, {
                "progress": progress, "message": message, "step": number, "totalSteps": total,
            })]  # fmt: skip

        await self.runner.journal.commit(self.view.task_id, advance)
        return made

    async def create_escrow(self, fields: Mapping[str, Any]) -> str:
        request = ChangeRequest(
            op=Op.CREATE,
            entity_type=EntityType.ESCROW.value,
            changes=dict(fields),
            via="ai",
            task_id=self.view.task_id,
        )
        outcome = await self.runner.records().change(self.view.actor, request)
        return outcome.record_id


class TaskRunner:
    def __init__(
        self,
        journal: TaskJournal,
        records: Callable[[], Records],
        node: str,
        *,
        per_user: int = DEFAULT_PER_USER,
        per_node: int = DEFAULT_PER_NODE,
    ) -> None:
        self.journal = journal
        self.records = records
        self.node = node
        self.per_user = per_user
        self.per_node = per_node
        self._queue: deque[TaskView] = deque()
        self._running: dict[str, asyncio.Task[None]] = {}
        self._running_users: dict[str, int] = {}
        self._wake: dict[str, asyncio.Event] = {}
        self._stopping = False

    # -- lifecycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        """Fail what a previous process of this node left queued or running (a crash)."""
        await self._fail_unfinished("the server restarted while the task ran")

    async def _fail_unfinished(self, reason: str) -> None:
        error = DomainError(ErrorCode.INTERNAL, reason)
        for view in await self.journal.unfinished(self.node):
            await self.journal.commit(view.task_id, self._ending(TaskStatus.FAILED, error=error))

    async def stop(self) -> None:
        """Stop at the next step boundary rather than cancel mid-transaction."""
        self._stopping = True
        self._queue.clear()
        for wake in self._wake.values():
            wake.set()
        tasks = list(self._running.values())
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=_STOP_WAIT_SECONDS)
            for task in late:
                task.cancel()
        try:  # a graceful stop tells users now; after a crash, the next start() does
            await self._fail_unfinished("the server stopped while the task ran")
        except Exception:
            _log.warning("could not fail this node's unfinished tasks on stop", exc_info=True)

    # -- submit, cancel, read -----------------------------------------------------------------
    async def submit(self, actor: Actor, task_type: TaskType, params: dict[str, Any]) -> TaskView:
        view = TaskView(str(uuid.uuid4()), task_type, actor, params, self.node,
                        self.journal.now_iso())  # fmt: skip
        await self.journal.create(view)
        self._queue.append(view)
        self._pump()
        return view

    async def get(self, actor: Actor, task_id: str) -> TaskView:
        view = await self.journal.get(task_id) if isinstance(task_id, str) else None
        if view is None or view.actor.user_id != actor.user_id:
            raise DomainError(ErrorCode.NOT_FOUND, "task not found")
        return view

    async def cancel(self, actor: Actor, task_id: Any) -> TaskView:
        """AI-5: NOT_FOUND for another user's task, TASK_FINISHED for a finished one."""
        view = await self.get(actor, task_id)
        if view.finished:
            raise DomainError(ErrorCode.TASK_FINISHED, f"the task is already {view.status}")

        def request(v: TaskView) -> list[tuple[str, Mapping[str, Any]]] | None:
            if v.finished:
                return None
            if v.status is TaskStatus.QUEUED:  # §15: only `cancelled` is emitted
                v.status, v.finished_at = TaskStatus.CANCELLED, self.journal.now_iso()
                return [(ServerEvent.AI_TASK_CANCELLED, {"message": "cancelled before it started"})]
            v.cancel_requested = True
            return []

        changed = await self.journal.commit(task_id, request)
        if changed is None:
            latest = await self.get(actor, task_id)
            raise DomainError(ErrorCode.TASK_FINISHED, f"the task is already {latest.status}")
        wake = self._wake.get(task_id)
        if wake is not None:
            wake.set()
        return await self._settled(actor, task_id, changed)

    async def _settled(self, actor: Actor, task_id: str, view: TaskView) -> TaskView:
        """The task once it stopped (briefly waited for), so the ack can say `cancelled`."""
        deadline = asyncio.get_running_loop().time() + _CANCEL_WAIT_SECONDS
        while not view.finished and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
            view = await self.get(actor, task_id)
        return view

    async def history(self, actor: Actor, limit: int = 100) -> list[TaskView]:
        return await self.journal.history(actor.user_id, limit)

    # -- running ------------------------------------------------------------------------------
    def _pump(self) -> None:
        if self._stopping:
            return
        waiting: deque[TaskView] = deque()
        while self._queue and len(self._running) < self.per_node:
            view = self._queue.popleft()
            user = view.actor.user_id
            if self._running_users.get(user, 0) >= self.per_user:
                waiting.append(view)
                continue
            self._running_users[user] = self._running_users.get(user, 0) + 1
            self._wake[view.task_id] = asyncio.Event()
            task = asyncio.create_task(self._execute(view), name=f"ai-task {view.task_id}")
            self._running[view.task_id] = task
            task.add_done_callback(functools.partial(self._done, view))
        self._queue.extendleft(reversed(waiting))

    def _done(self, view: TaskView, _: object = None) -> None:
        self._running.pop(view.task_id, None)
        self._wake.pop(view.task_id, None)
        user = view.actor.user_id
        self._running_users[user] = self._running_users.get(user, 1) - 1
        if self._running_users[user] <= 0:
            del self._running_users[user]
        self._pump()

    async def pause(self, task_id: str, seconds: float) -> None:
        """The step delay, cut short by a cancel: at once from this node, and within
        `_REMOTE_CANCEL_POLL_SECONDS` from another (read from the stored task)."""
        wake = self._wake.get(task_id)
        if wake is None or seconds <= 0:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while (left := deadline - loop.time()) > 0 and not wake.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), min(left, _REMOTE_CANCEL_POLL_SECONDS))
            if wake.is_set() or left <= _REMOTE_CANCEL_POLL_SECONDS:
                return
            stored = await self.journal.get(task_id)
            if stored is None or stored.cancel_requested or stored.finished:
                return

    async def check_cancel(self, task_id: str) -> None:
        if self._stopping:
            raise _NodeStopping
        wake = self._wake.get(task_id)
        if wake is not None and wake.is_set():
            raise TaskCancelled
        stored = await self.journal.get(task_id)  # a cancel that came through another node
        if stored is None or stored.cancel_requested or stored.finished:
            raise TaskCancelled

    async def _execute(self, queued: TaskView) -> None:
        def begin(v: TaskView) -> list[tuple[str, Mapping[str, Any]]] | None:
            if v.status is not TaskStatus.QUEUED:
                return None  # cancelled while queued
            v.status = TaskStatus.RUNNING
            message = f"{v.task_type.value.replace('_', ' ')} started"
            return [(ServerEvent.AI_TASK_STARTED, {"taskType": v.task_type.value,
                                                   "message": message})]  # fmt: skip

        view = await self.journal.commit(queued.task_id, begin)
        if view is None:
            return
        ending: Callable[[TaskView], list[tuple[str, Mapping[str, Any]]] | None]
        try:
            steps = _Steps(self, view, step_delay_ms(view.params) / 1000)
            result = await TASK_WORK[view.task_type](view, steps)
            ending = self._ending(TaskStatus.COMPLETED, result=result)
        except TaskFailure as failure:
            ending = self._ending(TaskStatus.FAILED, error=failure.error)
        except TaskCancelled:
            ending = self._ending(TaskStatus.CANCELLED)
        except (_NodeStopping, asyncio.CancelledError):
            return  # the node is stopping: its next start fails the task (start())
        except Exception:
            _log.exception("AI task %s failed", view.task_id)
            ending = self._ending(
                TaskStatus.FAILED, error=DomainError(ErrorCode.INTERNAL, "internal error")
            )
        await self.journal.commit(view.task_id, ending)

    def _ending(
        self, status: TaskStatus, *, result: dict[str, Any] | None = None,
        error: DomainError | None = None,
    ) -> Callable[[TaskView], list[tuple[str, Mapping[str, Any]]] | None]:  # fmt: skip
        now = self.journal.now_iso()

        def end(v: TaskView) -> list[tuple[str, Mapping[str, Any]]] | None:
            if v.finished:
                return None  # exactly one terminal event (AI-3)
            if error is not None:
                return _fail(v, error, now)
            v.status, v.finished_at = status, now
            if status is TaskStatus.COMPLETED:
                v.progress, v.result = 100, result
                return [(ServerEvent.AI_TASK_COMPLETED, {"result": result, "message": "done"})]
            return [(ServerEvent.AI_TASK_CANCELLED, {"message": "cancelled"})]

        return end
