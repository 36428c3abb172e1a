"""The collab services in-process: real MemoryClusterState, a socket server that records
what it is asked to emit, and a records service that knows which records are visible."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from harness.spec import ErrorCode, Limits
from reference_server.collab import CollabFeature
from reference_server.collab.shared import CollabContext
from reference_server.domain.clock import SystemClock
from reference_server.domain.contracts import Actor, DomainError
from reference_server.metrics import ServerMetrics
from reference_server.realtime.fanout import VARIANTS_KEY
from reference_server.realtime.session import SocketSession
from reference_server.state.memory import MemoryClusterState

__all__ = ["Emitted", "FakeSio", "Visible", "collab_bench", "session_of"]


@dataclass(frozen=True, slots=True)
class Emitted:
    event: str
    data: dict[str, Any]
    room: str

    @property
    def payload(self) -> dict[str, Any]:
        """What everyone but an excluded user receives."""
        variants = self.data.get(VARIANTS_KEY)
        return dict(variants["other"]) if variants else dict(self.data)

    @property
    def skipped_user(self) -> str | None:
        variants = self.data.get(VARIANTS_KEY)
        return variants["ownerId"] if variants and variants["owner"] is None else None


@dataclass
class FakeSio:
    emitted: list[Emitted] = field(default_factory=list)
    rooms: dict[str, set[str]] = field(default_factory=dict)

    async def emit(self, event: str, data: dict[str, Any], room: str) -> None:
        self.emitted.append(Emitted(event, data, room))

    async def enter_room(self, sid: str, room: str) -> None:
        self.rooms.setdefault(room, set()).add(sid)

    async def leave_room(self, sid: str, room: str) -> None:
        self.rooms.get(room, set()).discard(sid)

    def of(self, event: str) -> list[Emitted]:
        return [e for e in self.emitted if e.event == event]


@dataclass
class Visible:
    """`Records.get` for the collab services: ids starting `hidden` are nobody's to see."""

    async def get(self, actor: Actor, entity_type: str, record_id: str) -> dict[str, Any]:
        if record_id.startswith("hidden"):
            raise DomainError(ErrorCode.NOT_FOUND, f"{entity_type} not found")
        return {"id": record_id}


def collab_bench(**limits: Any) -> tuple[CollabFeature, FakeSio, MemoryClusterState]:
    sio, state, records = FakeSio(), MemoryClusterState(), Visible()
    ctx = CollabContext(sio, state, lambda: records, Limits(**limits), ServerMetrics(),  # type: ignore[arg-type]
                        SystemClock())  # fmt: skip
    return CollabFeature(ctx), sio, state


_SIDS = iter(range(1, 1_000_000))


async def session_of(state: MemoryClusterState, actor: Actor) -> tuple[SocketSession, int]:
    """A connected socket as the gateway would register it: (session, the user's count)."""
    sid = f"sid-{next(_SIDS)}"
    count = await state.add_connection(actor.user_id, sid, 5)
    assert count is not None
    return SocketSession.start(sid, actor, time.time() + 3600, Limits(), time.time()), count
