"""`sync` (STR-2..4): replay each named stream after its cursor, then ack the heads."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from harness.spec import ErrorCode, Limits

from ..domain.contracts import Actor, DomainError
from ..store.base import RecordStore, StoredEvent
from .acks import Ack, ack_ok, validation_error

__all__ = ["StreamReplayer"]

# Sends one replayed event to the caller's socket, redacted for the caller (RED-1).
SendToCaller = Callable[[StoredEvent], Awaitable[None]]
# Told, before anything is sent, the head up to which the caller will hold each stream.
Covered = Callable[[dict[str, int]], None]


@dataclass(frozen=True, slots=True)
class _Plan:
    stream: str
    head: int
    events: tuple[StoredEvent, ...] | None  # None: reset


def _parse_cursors(actor: Actor, payload: Any) -> dict[str, int]:
    if not isinstance(payload, Mapping):
        raise validation_error("sync payload must be an object")
    cursors = payload.get("cursors")
    if not isinstance(cursors, Mapping):
        raise validation_error("cursors must be an object of stream → seq", "cursors")
    own = set(actor.streams)
    # FORBIDDEN is decided before VALIDATION_ERROR (§15).
    for stream in cursors:
        if stream not in own:
            raise DomainError(ErrorCode.FORBIDDEN, "stream is not one of the caller's streams",
                              {"stream": stream})  # fmt: skip
    parsed: dict[str, int] = {}
    for stream, cursor in cursors.items():
        if isinstance(cursor, bool) or not isinstance(cursor, int) or cursor < 0:
            raise validation_error("a cursor is an integer ≥ 0", f"cursors.{stream}")
        parsed[stream] = cursor
    return parsed


class StreamReplayer:
    def __init__(self, store: RecordStore, limits: Limits, now: Callable[[], float]) -> None:
        self._store = store
        self._limits = limits
        self._now = now

    async def _plan(self, stream: str, cursor: int, head: int) -> _Plan:
        if cursor > head or head - cursor > self._limits.replayWindowEvents:
            return _Plan(stream, head, None)
        if cursor == head:
            return _Plan(stream, head, ())
        events = await self._store.read_stream(stream, cursor, head - cursor)
        oldest_allowed = self._now() - self._limits.replayWindowSeconds
        # A gap after the cursor means the log no longer holds that event: refetch (STR-3).
        if not events or events[0].seq != cursor + 1 or events[0].stored_at < oldest_allowed:
            return _Plan(stream, head, None)
        return _Plan(stream, head, tuple(events))

    async def sync(
        self, actor: Actor, payload: Any, send: SendToCaller, covered: Covered | None = None
    ) -> tuple[Ack, int]:
        """The ack and how many events were replayed. Every plan is made before anything is
        sent, so a refusal replays nothing (STR-4)."""
        cursors = _parse_cursors(actor, payload)
        heads = await self._store.stream_heads(list(actor.streams))
        plans = [await self._plan(s, c, heads.get(s, 0)) for s, c in cursors.items()]
        if covered is not None:
            covered({p.stream: p.head for p in plans if p.events is not None})
        streams: dict[str, dict[str, Any]] = {
            s: {"head": heads.get(s, 0), "replayed": 0} for s in actor.streams
        }
        replayed = 0
        for plan in plans:
            if plan.events is None:
                streams[plan.stream] = {"head": plan.head, "reset": True}
                continue
            for event in plan.events:
                await send(event)
            streams[plan.stream]["replayed"] = len(plan.events)
            replayed += len(plan.events)
        return ack_ok(streams=streams), replayed
