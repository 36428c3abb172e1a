"""AI task helpers (SPEC §11): submit and read tasks over REST, and follow one task's events
on a `RealtimeClient`, judging them as they come (AI-3).

```python
task = await submit_task(rest, "create_escrow", {"address": "1 Main St", "purchasePrice": 1})
progress = TaskProgress(client, task.task_id)
final = await progress.wait_done(10.0)        # the terminal event, or None on timeout
progress.check()                               # TaskAnomaly list: decreasing progress, ...
```
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from harness.spec import (
    AI_TASK_EVENTS,
    AI_TASK_TERMINAL_EVENTS,
    AI_TASKS_PATH,
    ClientEvent,
    ServerEvent,
)

from ._messages import Ack, ReceivedEvent
from ._realtime import RealtimeClient
from ._rest import RestClient, RestResponse

__all__ = [
    "TASKS_PATH",
    "SubmittedTask",
    "TaskAnomaly",
    "TaskAnomalyKind",
    "TaskProgress",
    "TaskSequenceError",
    "cancel_task",
    "get_task",
    "list_tasks",
    "submit_task",
]

TASKS_PATH = AI_TASKS_PATH


@dataclass(frozen=True, slots=True)
class SubmittedTask:
    response: RestResponse

    @property
    def task_id(self) -> str:
        data = self.response.data
        return str(data.get("taskId", "")) if isinstance(data, Mapping) else ""

    @property
    def accepted(self) -> bool:
        return self.response.status == 202 and bool(self.task_id)


async def submit_task(rest: RestClient, task_type: str, params: Any) -> SubmittedTask:
    """`POST /api/v1/ai/tasks` (AI-1); `params` is sent as given, so bad ones can be tried."""
    return SubmittedTask(
        await rest.raw("POST", TASKS_PATH, json_body={"type": task_type, "params": params})
    )


async def get_task(rest: RestClient, task_id: str) -> RestResponse:
    return await rest.raw("GET", f"{TASKS_PATH}/{task_id}")


async def list_tasks(rest: RestClient) -> RestResponse:
    return await rest.raw("GET", TASKS_PATH)


async def cancel_task(rest: RestClient, task_id: str) -> RestResponse:
    """The REST cancel (AI-5): 202 `{"data": {"taskId", "status"}}`."""
    return await rest.raw("POST", f"{TASKS_PATH}/{task_id}/cancel")


class TaskAnomalyKind(StrEnum):
    BEFORE_STARTED = "before-started"  # progress or a terminal event before ai:task:started
    BAD_PROGRESS = "bad-progress"  # not an integer 0–100
    PROGRESS_DECREASED = "progress-decreased"
    AFTER_TERMINAL = "after-terminal"  # anything after the terminal event
    SEVERAL_TERMINALS = "several-terminals"


@dataclass(frozen=True, slots=True)
class TaskAnomaly:
    kind: TaskAnomalyKind
    event: str
    detail: str


class TaskSequenceError(AssertionError):
    """A task's events broke AI-3; `anomalies` says how."""

    def __init__(self, task_id: str, anomalies: list[TaskAnomaly]) -> None:
        listed = "; ".join(f"{a.kind.value} at {a.event} ({a.detail})" for a in anomalies)
        super().__init__(f"task {task_id}: {listed}")
        self.task_id = task_id
        self.anomalies = anomalies


class TaskProgress:
    """One task's `ai:task:*` events as a client received them, in arrival order."""

    def __init__(self, client: RealtimeClient, task_id: str) -> None:
        self.client = client
        self.task_id = task_id

    @property
    def events(self) -> list[ReceivedEvent]:
        return self.client.received(
            lambda e: e.name in AI_TASK_EVENTS and e.get("taskId") == self.task_id
        )

    @property
    def progress_values(self) -> list[Any]:
        return [e.get("progress") for e in self.events if e.name == ServerEvent.AI_TASK_PROGRESS]

    @property
    def terminal(self) -> ReceivedEvent | None:
        return next((e for e in self.events if e.name in AI_TASK_TERMINAL_EVENTS), None)

    async def wait_done(self, timeout: float) -> ReceivedEvent | None:  # noqa: ASYNC109
        """The terminal event (completed, failed or cancelled); None if none came in time."""
        return await self.client.wait_for(
            lambda e: e.name in AI_TASK_TERMINAL_EVENTS and e.get("taskId") == self.task_id,
            timeout,
        )

    async def cancel(self) -> Ack:
        return await self.client.request(ClientEvent.AI_TASK_CANCEL, {"taskId": self.task_id})

    def assert_valid(self) -> None:
        """Raise TaskSequenceError when `check()` finds anything (for scripts and tests)."""
        anomalies = self.check()
        if anomalies:
            raise TaskSequenceError(self.task_id, anomalies)

    def check(self) -> list[TaskAnomaly]:
        """What breaks AI-3 in the events so far: started first, integer progress 0–100 never
        decreasing, exactly one terminal event and nothing after it."""
        anomalies: list[TaskAnomaly] = []
        started = finished = False
        last = -1
        for event in self.events:
            if finished:
                kind = (
                    TaskAnomalyKind.SEVERAL_TERMINALS
                    if event.name in AI_TASK_TERMINAL_EVENTS
                    else TaskAnomalyKind.AFTER_TERMINAL
                )
                anomalies.append(TaskAnomaly(kind, event.name, "after the terminal event"))
                continue
            if event.name == ServerEvent.AI_TASK_STARTED:
                started = True
                continue
            # §15: a task cancelled while queued emits only `cancelled`.
            if not started and event.name != ServerEvent.AI_TASK_CANCELLED:
                anomalies.append(
                    TaskAnomaly(TaskAnomalyKind.BEFORE_STARTED, event.name, "before started")
                )
            if event.name == ServerEvent.AI_TASK_PROGRESS:
                value = event.get("progress")
                if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
                    anomalies.append(
                        TaskAnomaly(TaskAnomalyKind.BAD_PROGRESS, event.name, repr(value))
                    )
                    continue
                if value < last:
                    anomalies.append(TaskAnomaly(
                        TaskAnomalyKind.PROGRESS_DECREASED, event.name, f"{last} then {value}"
                    ))  # fmt: skip
                last = max(last, value)
            elif event.name in AI_TASK_TERMINAL_EVENTS:
                finished = True
        return anomalies
