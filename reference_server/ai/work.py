"""What each task type does, step by step (AI-2, AI-4, AI-6, §15).

Records are created through the same `RecordService.change` as REST, with `via: "ai"` and the
task id, so their data events, validation and audiences are the ordinary ones.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from harness.spec import ErrorCode

from ..domain.contracts import DomainError
from .model import TaskFailure, TaskType, TaskView

__all__ = ["CREATE_ESCROW_STEPS", "TASK_WORK", "StepRunner", "TaskWork"]

CREATE_ESCROW_STEPS: tuple[str, ...] = (
    "Analysing the address",
    "Finding comparable sales",
    "Estimating the commission",
    "Creating the escrow",
    "Notifying the team",
)
_CREATE_STEP = 4  # §15: create_escrow validates its params here, after three steps


class StepRunner(Protocol):
    """The runner's side of a task: pauses, cancellation points, progress events."""

    async def step(
        self, number: int, total: int, message: str,
        action: Callable[[], Awaitable[str]] | None = None,
    ) -> str | None: ...  # fmt: skip

    async def create_escrow(self, fields: Mapping[str, Any]) -> str:
        """A new escrow owned by the task's user; DomainError when refused."""


TaskWork = Callable[[TaskView, StepRunner], Awaitable[dict[str, Any]]]


def _escrow_fields(source: Any, where: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(source, Mapping):
        raise TaskFailure(DomainError(
            ErrorCode.VALIDATION_ERROR, "each row must be an object", where or None
        ))  # fmt: skip
    if "purchasePrice" not in source:  # §15: task params require purchasePrice
        raise TaskFailure(DomainError(
            ErrorCode.VALIDATION_ERROR, "purchasePrice is required",
            {**where, "field": "purchasePrice"},
        ))  # fmt: skip
    return {k: source[k] for k in ("address", "purchasePrice") if k in source}


async def _create(runner: StepRunner, fields: dict[str, Any], where: dict[str, Any]) -> str:
    try:
        return await runner.create_escrow(fields)
    except DomainError as exc:
        details = {**(exc.details or {}), **where}
        raise TaskFailure(DomainError(exc.code, exc.message, details)) from None


async def create_escrow(task: TaskView, runner: StepRunner) -> dict[str, Any]:
    total = len(CREATE_ESCROW_STEPS)
    escrow_id: str | None = None
    for number, message in enumerate(CREATE_ESCROW_STEPS, start=1):
        if number == _CREATE_STEP:

            async def make() -> str:
                return await _create(runner, _escrow_fields(task.params, {}), {})

            escrow_id = await runner.step(number, total, message, make)
        else:
            await runner.step(number, total, message)
    return {"escrowId": escrow_id}


async def import_escrows(task: TaskView, runner: StepRunner) -> dict[str, Any]:
    rows = task.params.get("rows")
    if not isinstance(rows, list):
        raise TaskFailure(DomainError(
            ErrorCode.VALIDATION_ERROR, "rows must be a list", {"field": "rows", "created": []}
        ))  # fmt: skip
    created: list[str] = []
    for index, row in enumerate(rows):
        where = {"row": index, "created": list(created)}

        async def make(row: Any = row, where: dict[str, Any] = where) -> str:
            return await _create(runner, _escrow_fields(row, where), where)

        message = f"Importing row {index + 1} of {len(rows)}"
        made = await runner.step(index + 1, len(rows), message, make)
        assert made is not None
        created.append(made)
    return {"escrowIds": created}


TASK_WORK: dict[TaskType, TaskWork] = {
    TaskType.CREATE_ESCROW: create_escrow,
    TaskType.IMPORT_ESCROWS: import_escrows,
}
