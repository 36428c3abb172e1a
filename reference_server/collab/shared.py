"""What the collaboration services share: the socket server, cluster state, records, time."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any

import socketio

from harness.spec import ENTITY_TYPES, Limits

from ..domain.clock import Clock, iso_from_epoch
from ..domain.contracts import Actor
from ..metrics import ServerMetrics
from ..realtime.acks import validation_error
from ..realtime.fanout import variants_marker
from ..state.base import ClusterState
from ..transport_ports import Records

__all__ = ["CollabContext", "RecordRef", "record_ref", "room_of"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RecordRef:
    entity_type: str
    entity_id: str

    @property
    def key(self) -> str:
        """The ClusterState key of the record's room and lock (`domain.visibility.lock_key`)."""
        return f"{self.entity_type}:{self.entity_id}"

    def wire(self) -> dict[str, str]:
        return {"entityType": self.entity_type, "entityId": self.entity_id}


def room_of(record_key: str) -> str:
    """The Socket.IO room of a record; never clashes with the `broker:`/`team:`/`user:` rooms."""
    return f"record:{record_key}"


def record_ref(payload: Any) -> RecordRef:
    """`{"entityType", "entityId"}` from a client payload, or VALIDATION_ERROR (LIM-5)."""
    if not isinstance(payload, Mapping):
        raise validation_error("payload must be an object")
    entity_type, entity_id = payload.get("entityType"), payload.get("entityId")
    if entity_type not in ENTITY_TYPES:
        raise validation_error("entityType must be one of " + ", ".join(ENTITY_TYPES), "entityType")
    if not isinstance(entity_id, str) or not entity_id:
        raise validation_error("entityId must be a non-empty string", "entityId")
    return RecordRef(entity_type, entity_id)


@dataclass(slots=True)
class CollabContext:
    sio: socketio.AsyncServer
    state: ClusterState
    records: Callable[[], Records]
    limits: Limits
    metrics: ServerMetrics
    clock: Clock
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def now_iso(self) -> str:
        return iso_from_epoch(self.clock.now())

    async def check_visible(self, actor: Actor, ref: RecordRef) -> None:
        """NOT_FOUND (same body for missing and invisible, REC-4) unless the actor sees it."""
        await self.records().get(actor, ref.entity_type, ref.entity_id)

    async def emit(
        self, event: str, payload: Mapping[str, Any], room: str, *, skip_user: str | None = None
    ) -> None:
        """One logical emit to a room on every node (TRN-4 timestamp added).

        `skip_user`: none of that user's sockets receive it, wherever they are (COL-6). It
        travels as a variants marker whose owner copy is None, which the fan-out manager
        resolves per local socket on each node.
        """
        data: dict[str, Any] = {**payload, "timestamp": self.now_iso()}
        if skip_user is not None:
            data = variants_marker(skip_user, None, data)
        await self.sio.emit(event, data, room=room)
        self.metrics.emitted(event)

    def spawn(self, work: Coroutine[Any, Any, None], what: str) -> asyncio.Task[None]:
        """Background work that must outlive the handler (kept referenced until done)."""

        task = asyncio.create_task(work, name=what)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("%s failed", task.get_name(), exc_info=task.exception())

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=2)
