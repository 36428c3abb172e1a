"""Profile `ai` (SPEC §11): a task runner on the server that the user watches work."""

from __future__ import annotations

from fastapi import APIRouter

from harness.spec import ClientEvent

from ..realtime.gateway import RealtimeGateway
from .routes import socket_cancel_handler, task_router
from .task_runner import TaskRunner

__all__ = ["AiFeature", "TaskRunner"]


class AiFeature:
    def __init__(self, runner: TaskRunner) -> None:
        self.runner = runner

    def _runner(self) -> TaskRunner:
        return self.runner

    @property
    def router(self) -> APIRouter:
        return task_router(self._runner)

    def register(self, gateway: RealtimeGateway) -> None:
        gateway.add_handler(ClientEvent.AI_TASK_CANCEL, socket_cancel_handler(self._runner))

    async def start(self) -> None:
        await self.runner.start()

    async def stop(self) -> None:
        await self.runner.stop()
