"""The limits a server advertises in its info document (SPEC §2), with the spec's defaults."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

__all__ = ["Heartbeat", "Limits"]


@dataclass(frozen=True, slots=True)
class Heartbeat:
    pingInterval: int = 10000
    pingTimeout: int = 5000

    def to_json(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Limits:
    """Field names are the wire names, so `Limits.from_json(info["limits"])` round-trips."""

    eventsPerSecond: float = 10
    burst: int = 20
    floodDisconnectThreshold: int = 100
    maxConnectionsPerUser: int = 5
    maxPayloadBytes: int = 65536
    replayWindowEvents: int = 1000
    replayWindowSeconds: int = 300
    idempotencyTtlSeconds: int = 86400
    editLockTtlSeconds: int = 300
    presenceGraceSeconds: int = 5

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Limits:
        """Unknown keys are ignored: a server may advertise more than this version knows."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})
