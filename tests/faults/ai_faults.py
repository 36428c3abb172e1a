"""Faults of profile `ai` (§11): each breaks one AI-* rule the way a plausible bug would.

Installed by `fault_server.py`; `fault_switch.broken` decides on every call whether a fault is on.
"""

from __future__ import annotations

from typing import Any

from fault_switch import Method, broken, patch

from harness.spec import ErrorCode, Op, ServerEvent
from reference_server.ai import routes as ai_routes
from reference_server.ai import task_runner as ai_runner
from reference_server.ai import work as ai_work
from reference_server.ai.model import TaskType, TaskView
from reference_server.ai.task_runner import TaskCancelled, TaskRunner, _Steps
from reference_server.domain.contracts import ChangeRequest, DomainError

__all__ = ["FAULTS", "install"]

FAULTS: dict[str, str] = {
    "AI-1": "a task submission answers 200",
    "AI-2": "import_escrows skips its last row",
    "AI-3": "a progress event follows the terminal event",
    "AI-4": "a failed task's error loses its details",
    "AI-5": "a cancel is acknowledged but the task runs on to the end",
    "AI-6": "records made by a task say via api",
    "AI-7": "another user's task is readable over REST",
}


def install() -> None:
    original_submitted = ai_routes.submitted

    def submitted(view: TaskView) -> Any:
        response = original_submitted(view)
        if broken("AI-1"):
            response.status_code = 200
        return response

    def any_users(orig: Method) -> Method:
        async def patched(self: TaskRunner, actor: Any, task_id: Any) -> TaskView:
            if not broken("AI-7"):
                return await orig(self, actor, task_id)
            view = await self.journal.get(task_id)
            if view is None:
                raise DomainError(ErrorCode.NOT_FOUND, "task not found")
            return view

        return patched

    def short_import(orig: Method) -> Method:
        async def patched(task: TaskView, runner: Any) -> Any:
            rows = task.params.get("rows")
            if broken("AI-2") and isinstance(rows, list) and rows:
                task.params = {**task.params, "rows": rows[:-1]}
            return await orig(task, runner)

        return patched

    original_fail = ai_runner._fail

    def fail_without_details(view: TaskView, error: DomainError, now: str) -> Any:
        if broken("AI-4"):
            error = DomainError(error.code, error.message)
        return original_fail(view, error, now)

    def late_progress(orig: Method) -> Method:
        async def patched(self: TaskRunner, queued: TaskView) -> None:
            await orig(self, queued)
            if broken("AI-3"):
                extra = {"progress": 100, "message": "late", "step": 1, "totalSteps": 1}
                await self.journal.commit(
                    queued.task_id, lambda _view: [(ServerEvent.AI_TASK_PROGRESS, extra)]
                )

        return patched

    def ignored_cancel(orig: Method) -> Method:
        async def patched(self: TaskRunner, task_id: str) -> None:
            try:
                await orig(self, task_id)
            except TaskCancelled:
                if not broken("AI-5"):
                    raise
                wake = self._wake.get(task_id)
                if wake is not None:
                    wake.clear()  # acknowledged, then carried on regardless

        return patched

    def via_api(orig: Method) -> Method:
        async def patched(self: _Steps, fields: Any) -> str:
            if not broken("AI-6"):
                return str(await orig(self, fields))
            request = ChangeRequest(op=Op.CREATE, entity_type="escrow", changes=dict(fields))
            return (await self.runner.records().change(self.view.actor, request)).record_id

        return patched

    ai_routes.submitted = submitted
    patch(TaskRunner, "get", any_users)
    patch(ai_work, "import_escrows", short_import)
    ai_work.TASK_WORK[TaskType.IMPORT_ESCROWS] = ai_work.import_escrows
    ai_runner._fail = fail_without_details
    patch(TaskRunner, "_execute", late_progress)
    patch(TaskRunner, "check_cancel", ignored_cancel)
    patch(_Steps, "create_escrow", via_api)
