"""What the server keeps per connected socket."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from harness.spec import FLOOD_WINDOW_SECONDS, Limits

from ..domain.contracts import Actor
from .limits import FloodCounter, TokenBucket

__all__ = ["SocketSession"]


@dataclass(slots=True)
class SocketSession:
    sid: str
    actor: Actor
    exp: float
    bucket: TokenBucket
    flood: FloodCounter
    last_server_error_at: float = float("-inf")
    # Set when the socket disconnects: a handler still awaiting must not register it anywhere.
    closed: bool = False
    expiry_task: asyncio.Task[None] | None = field(default=None, repr=False)

    @classmethod
    def start(cls, sid: str, actor: Actor, exp: float, limits: Limits, now: float) -> SocketSession:
        return cls(
            sid=sid,
            actor=actor,
            exp=exp,
            bucket=TokenBucket(limits.eventsPerSecond, limits.burst, now),
            flood=FloodCounter(FLOOD_WINDOW_SECONDS, limits.floodDisconnectThreshold),
        )

    def cancel_expiry(self) -> None:
        if self.expiry_task is not None:
            self.expiry_task.cancel()
            self.expiry_task = None
