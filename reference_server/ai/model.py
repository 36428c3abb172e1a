"""AI task vocabulary (SPEC §11): types, statuses, params, and the task's wire forms."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness.spec import ErrorCode

from ..domain.contracts import Actor, DomainError
from ..store.base import StoredTask

__all__ = [
    "DEFAULT_STEP_DELAY_MS",
    "MAX_STEP_DELAY_MS",
    "TERMINAL_STATUSES",
    "TaskFailure",
    "TaskStatus",
    "TaskType",
    "TaskView",
    "step_delay_ms",
]

DEFAULT_STEP_DELAY_MS = 300  # AI-2
MAX_STEP_DELAY_MS = 5000


class TaskType(enum.StrEnum):
    CREATE_ESCROW = "create_escrow"
    IMPORT_ESCROWS = "import_escrows"


class TaskStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


TERMINAL_STATUSES = frozenset({TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED})


class TaskFailure(Exception):
    """A task ends `failed` with this error (AI-3, AI-4); carries no sensitive value (RED-4)."""

    def __init__(self, error: DomainError) -> None:
        super().__init__(error.message)
        self.error = error


def step_delay_ms(params: Mapping[str, Any]) -> int:
    """`stepDelayMs` 0–5000, default 300 (AI-2); TaskFailure when invalid (§15)."""
    value = params.get("stepDelayMs", DEFAULT_STEP_DELAY_MS)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_STEP_DELAY_MS:
        raise TaskFailure(DomainError(
            ErrorCode.VALIDATION_ERROR, f"stepDelayMs must be an integer 0 to {MAX_STEP_DELAY_MS}",
            {"field": "stepDelayMs"},
        ))  # fmt: skip
    return value


@dataclass(slots=True)
class TaskView:
    """A task as its runner and REST see it; `to_row` / `from_row` are its durable form."""

    task_id: str
    task_type: TaskType
    actor: Actor
    params: dict[str, Any]
    node: str
    created_at: str
    status: TaskStatus = TaskStatus.QUEUED
    progress: int = 0
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    finished_at: str | None = None
    cancel_requested: bool = False

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL_STATUSES

    def wire(self) -> dict[str, Any]:
        """AI-7's shape."""
        data: dict[str, Any] = {
            "taskId": self.task_id, "type": self.task_type.value, "status": self.status.value,
            "progress": self.progress, "createdAt": self.created_at,
        }  # fmt: skip
        if self.result is not None:
            data["result"] = self.result
        if self.error is not None:
            data["error"] = self.error
        if self.finished_at is not None:
            data["finishedAt"] = self.finished_at
        return data

    def to_row(self) -> StoredTask:
        actor = self.actor
        data = {
            **self.wire(), "params": self.params, "cancelRequested": self.cancel_requested,
            "actor": {"teamId": actor.team_id, "brokerId": actor.broker_id, "name": actor.name},
        }  # fmt: skip
        return StoredTask(self.task_id, actor.user_id, self.node, self.status.value,
                          self.created_at, data)  # fmt: skip

    @classmethod
    def from_row(cls, row: StoredTask) -> TaskView:
        data = dict(row.data)
        who = data.get("actor") or {}
        actor = Actor(row.user_id, who.get("teamId", ""), who.get("brokerId", ""),
                      who.get("name", row.user_id))  # fmt: skip
        return cls(
            task_id=row.task_id, task_type=TaskType(data["type"]), actor=actor,
            params=dict(data.get("params") or {}), node=row.node, created_at=row.created_at,
            status=TaskStatus(row.status), progress=int(data.get("progress", 0)),
            result=data.get("result"), error=data.get("error"),
            finished_at=data.get("finishedAt"),
            cancel_requested=bool(data.get("cancelRequested")),
        )  # fmt: skip
