"""Plugs profiles `collab` (§10) and `ai` (§11) into the app `build_app` assembles.

`build_app` calls `install_extra_profiles` once, before the record routes are mounted (the
record routes' `/{collection}/{id}` would otherwise answer `/activity` and `/ai/tasks`), and
`start` / `stop` from its lifespan. The info document advertises the profiles from here on.
"""

from __future__ import annotations

from dataclasses import dataclass

import socketio
from fastapi import FastAPI

from harness.spec import Profile

from ..ai import AiFeature
from ..ai.journal import TaskJournal
from ..ai.task_runner import TaskRunner
from ..domain.contracts import EventPublisher
from ..realtime.gateway import RealtimeGateway
from ..rest.app_state import AppContext
from . import CollabFeature
from .shared import CollabContext

__all__ = ["ExtraProfiles", "install_extra_profiles"]


@dataclass(slots=True)
class ExtraProfiles:
    collab: CollabFeature
    ai: AiFeature
    profiles: tuple[Profile, ...] = (Profile.COLLAB, Profile.AI)

    async def start(self, records: object) -> None:
        self.collab.attach(records)
        await self.ai.start()

    async def stop(self) -> None:
        await self.ai.stop()
        await self.collab.stop()


def install_extra_profiles(
    api: FastAPI,
    sio: socketio.AsyncServer,
    gateway: RealtimeGateway,
    ctx: AppContext,
    publisher: EventPublisher,
) -> ExtraProfiles:
    collab = CollabFeature(
        CollabContext(sio, ctx.state, ctx.records, ctx.settings.limits, ctx.metrics, ctx.clock)
    )
    journal = TaskJournal(ctx.store, publisher, ctx.clock)
    ai = AiFeature(TaskRunner(journal, ctx.records, ctx.settings.node_name))
    extra = ExtraProfiles(collab, ai)
    for feature in (collab, ai):
        feature.register(gateway)
        api.include_router(feature.router)
    order = list(Profile)  # the info document lists profiles in the spec's order (§0)
    ctx.profiles = tuple(sorted({*ctx.profiles, *extra.profiles}, key=order.index))
    return extra
