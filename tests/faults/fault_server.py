"""Test-only entry point: the reference server with rules of §10/§11 breakable at run time.

    python tests/collab/fault_server.py [reference server options]
    POST /_test/faults {"faults": ["COL-6"]}     # break COL-6 from now on ([] restores all)

Each fault breaks one requirement the way a plausible server bug would (`FAULTS` says how);
tests/collab and tests/ai turn one on, run the conformance suite for that id and expect
`fail`. The switch exists only in this script's process: the real entry points
(`python -m reference_server`, `crm-harness serve`) have no such route.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

_REPO = Path(__file__).resolve().parents[2]
if str(_REPO) not in sys.path:
    sys.path.insert(0, str(_REPO))

from fastapi import APIRouter, FastAPI, Request  # noqa: E402

from harness.spec import ErrorCode, Op, ServerEvent  # noqa: E402
from reference_server import app as app_module  # noqa: E402
from reference_server.ai import routes as ai_routes  # noqa: E402
from reference_server.ai import runner as ai_runner  # noqa: E402
from reference_server.ai import work as ai_work  # noqa: E402
from reference_server.ai.model import TaskType, TaskView  # noqa: E402
from reference_server.ai.runner import TaskCancelled, TaskRunner, _Steps  # noqa: E402
from reference_server.collab import activity, notifications  # noqa: E402
from reference_server.collab.context import CollabContext  # noqa: E402
from reference_server.collab.locks import LockService  # noqa: E402
from reference_server.collab.presence import PresenceService  # noqa: E402
from reference_server.collab.rooms import RoomService  # noqa: E402
from reference_server.domain.contracts import ChangeRequest, DomainError  # noqa: E402
from reference_server.domain.records import RecordService  # noqa: E402

__all__ = ["FAULTS", "FAULTS_PATH"]

FAULTS_PATH = "/_test/faults"
FAULTS: dict[str, str] = {
    "COL-1": "every socket announces online, not only the user's first in the cluster",
    "COL-2": "presence:list counts one connection per user",
    "COL-3": "the record:view ack lists no viewers",
    "COL-4": "another user's record:edit:start takes a held lock",
    "COL-5": "the domain no longer consults edit locks",
    "COL-6": "typing is echoed to the sender's sockets",
    "COL-7": "every notification's kind is record.updated",
    "COL-8": "the activity feed is not redacted for the caller",
    "COL-9": "record:view and typing skip the visibility check",
    "AI-1": "a task submission answers 200",
    "AI-2": "import_escrows skips its last row",
    "AI-3": "a progress event follows the terminal event",
    "AI-4": "a failed task's error loses its details",
    "AI-5": "a cancel is acknowledged but the task runs on to the end",
    "AI-6": "records made by a task say via api",
    "AI-7": "another user's task is readable over REST",
}
ACTIVE: set[str] = set()


def broken(fault: str) -> bool:
    return fault in ACTIVE


Method = Callable[..., Awaitable[Any]]


def _patch(owner: Any, name: str, make: Callable[[Method], Method]) -> None:
    setattr(owner, name, make(getattr(owner, name)))


# -- §10 ---------------------------------------------------------------------------------------
def _collab_faults() -> None:
    _patch(
        PresenceService,
        "connected",
        lambda orig: (
            lambda self, session, count: orig(self, session, 1 if broken("COL-1") else count)
        ),
    )

    def listing(orig: Method) -> Method:
        async def patched(self: Any, session: Any, payload: Any) -> Any:
            ack = await orig(self, session, payload)
            if broken("COL-2"):
                ack["online"] = [{**entry, "connections": 1} for entry in ack["online"]]
            return ack

        return patched

    def viewing(orig: Method) -> Method:
        async def patched(self: Any, session: Any, payload: Any) -> Any:
            ack = await orig(self, session, payload)
            return {**ack, "viewers": []} if broken("COL-3") else ack

        return patched

    def locking(orig: Method) -> Method:
        async def patched(self: Any, session: Any, payload: Any) -> Any:
            if broken("COL-4") and isinstance(payload, dict):
                key = f"{payload.get('entityType')}:{payload.get('entityId')}"
                held = await self.ctx.state.get_lock(key)
                if held is not None:
                    await self.ctx.state.release_lock(key, held.user_id)
            return await orig(self, session, payload)

        return patched

    async def unchecked() -> None:
        return None

    def feed(orig: Method) -> Method:
        async def patched(store: Any, redaction: Any, actor: Any, limit: int) -> Any:
            if broken("COL-8"):
                events = await store.recent_events(actor.streams, limit, None)
                return [e.wire() for e in events if ":" in e.name and e.payload.get("action")]
            return await orig(store, redaction, actor, limit)

        return patched

    original_notification = notifications.notification_for

    def notification_for(*args: Any) -> Any:
        event = original_notification(*args)
        if event is None or not broken("COL-7"):
            return event
        payload = {**event.payload, "kind": "record.updated"}
        return type(event)(event.stream, event.name, payload, event.owner_id, event.entity_type)

    _patch(PresenceService, "list", listing)
    _patch(RoomService, "view", viewing)
    _patch(LockService, "start", locking)
    _patch(
        RecordService,
        "_check_lock",
        lambda orig: (
            lambda self, actor, request: (
                unchecked() if broken("COL-5") else orig(self, actor, request)
            )
        ),
    )
    _patch(
        CollabContext,
        "emit",
        lambda orig: (
            lambda self, event, payload, room, skip_user=None: orig(
                self,
                event,
                payload,
                room,
                skip_user=None if broken("COL-6") and event == ServerEvent.TYPING else skip_user,
            )
        ),
    )
    _patch(
        CollabContext,
        "check_visible",
        lambda orig: (
            lambda self, actor, ref: unchecked() if broken("COL-9") else orig(self, actor, ref)
        ),
    )
    notifications.notification_for = notification_for  # type: ignore[assignment]
    _patch(activity, "activity_feed", feed)


# -- §11 ---------------------------------------------------------------------------------------
def _ai_faults() -> None:
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

    ai_routes.submitted = submitted  # type: ignore[assignment]
    _patch(TaskRunner, "get", any_users)
    _patch(ai_work, "import_escrows", short_import)
    ai_work.TASK_WORK[TaskType.IMPORT_ESCROWS] = ai_work.import_escrows
    ai_runner._fail = fail_without_details
    _patch(TaskRunner, "_execute", late_progress)
    _patch(TaskRunner, "check_cancel", ignored_cancel)
    _patch(_Steps, "create_escrow", via_api)


# -- the switch ----------------------------------------------------------------------------------
def _with_switch(install: Callable[..., Any]) -> Callable[..., Any]:
    def patched(api: FastAPI, *rest: Any) -> Any:
        router = APIRouter()

        @router.post(FAULTS_PATH)
        async def set_faults(request: Request) -> dict[str, list[str]]:
            wanted = (await request.json()).get("faults", [])
            ACTIVE.clear()
            ACTIVE.update(f for f in wanted if f in FAULTS)
            return {"faults": sorted(ACTIVE)}

        api.include_router(router)
        return install(api, *rest)

    return patched


def main() -> int:
    _collab_faults()
    _ai_faults()
    app_module.install_extra_profiles = _with_switch(app_module.install_extra_profiles)  # type: ignore[assignment]
    from reference_server.__main__ import main as serve

    return serve(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
