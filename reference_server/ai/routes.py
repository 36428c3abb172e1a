"""AI tasks over REST (AI-1, AI-5, AI-7) and the socket's `ai:task:cancel` (AI-5)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from harness.spec import AI_TASKS_PATH, ErrorCode

from ..domain.contracts import DomainError
from ..realtime.acks import Ack, ack_ok, validation_error
from ..realtime.session import SocketSession
from ..rest.app_state import authenticate
from ..rest.body_limit import body_too_large
from .model import TaskType, TaskView
from .task_runner import TaskRunner

__all__ = ["TASKS_PATH", "socket_cancel_handler", "submitted", "task_router"]

TASKS_PATH = AI_TASKS_PATH


async def _json_object(request: Request) -> Mapping[str, Any]:
    raw = await request.body()
    if body_too_large(request.scope):
        raise DomainError(ErrorCode.PAYLOAD_TOO_LARGE, "request body is over maxPayloadBytes")
    try:
        body = json.loads(raw) if raw else None
    except (ValueError, UnicodeDecodeError):
        body = None
    if not isinstance(body, Mapping):
        raise validation_error("the body must be a JSON object")
    return body


def submitted(view: TaskView) -> JSONResponse:
    """AI-1: 202 `{"data": {"taskId", "status": "queued"}}`."""
    return JSONResponse({"data": {"taskId": view.task_id, "status": view.status.value}},
                        status_code=202)  # fmt: skip


def task_router(runner: Callable[[], TaskRunner]) -> APIRouter:
    router = APIRouter()

    @router.post(TASKS_PATH)
    async def submit(request: Request) -> JSONResponse:
        actor = await authenticate(request)
        body = await _json_object(request)
        try:
            task_type = TaskType(str(body.get("type")))
        except ValueError:
            raise validation_error("type must be one of " + ", ".join(TaskType), "type") from None
        params = body.get("params")
        if not isinstance(params, Mapping):
            raise validation_error("params must be an object", "params")
        return submitted(await runner().submit(actor, task_type, dict(params)))  # fmt: skip

    @router.get(TASKS_PATH)
    async def history(request: Request) -> JSONResponse:
        actor = await authenticate(request)
        return JSONResponse({"data": [v.wire() for v in await runner().history(actor)]})

    @router.get(TASKS_PATH + "/{task_id}")
    async def one(request: Request, task_id: str) -> JSONResponse:
        actor = await authenticate(request)
        return JSONResponse({"data": (await runner().get(actor, task_id)).wire()})

    @router.post(TASKS_PATH + "/{task_id}/cancel")
    async def cancel(request: Request, task_id: str) -> JSONResponse:
        actor = await authenticate(request)
        view = await runner().cancel(actor, task_id)
        return JSONResponse({"data": {"taskId": view.task_id, "status": view.status.value}},
                            status_code=202)  # fmt: skip

    return router


def socket_cancel_handler(
    runner: Callable[[], TaskRunner],
) -> Callable[[SocketSession, Any], Awaitable[Ack]]:
    async def on_cancel(session: SocketSession, payload: Any) -> Ack:
        task_id = payload.get("taskId") if isinstance(payload, Mapping) else None
        if not isinstance(task_id, str) or not task_id:
            raise validation_error("taskId must be a non-empty string", "taskId")
        view = await runner().cancel(session.actor, task_id)
        return ack_ok(taskId=view.task_id, status=view.status.value)

    return on_cancel
