"""Who may see a record (REC-1) and where its events go (SPEC §7).

`team` → users of its teamId; `broker` → users of its brokerId; `private` → its owner alone.
A data event travels on the stream of the same audience: `team:`, `broker:` or the owner's
`user:` stream.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.spec import ErrorCode

from .contracts import Actor, DomainError

__all__ = ["can_see", "lock_key", "not_found", "stream_for"]


def can_see(actor: Actor, record: Mapping[str, Any]) -> bool:
    visibility = record.get("visibility")
    if visibility == "team":
        return bool(record.get("teamId") == actor.team_id)
    if visibility == "broker":
        return bool(record.get("brokerId") == actor.broker_id)
    return bool(record.get("ownerId") == actor.user_id)


def stream_for(record: Mapping[str, Any]) -> str:
    visibility = record.get("visibility")
    if visibility == "team":
        return f"team:{record['teamId']}"
    if visibility == "broker":
        return f"broker:{record['brokerId']}"
    return f"user:{record['ownerId']}"


def lock_key(entity_type: str, record_id: str) -> str:
    """The ClusterState key of a record's edit lock and room (COL-3, COL-4)."""
    return f"{entity_type}:{record_id}"


def not_found(entity_type: str) -> DomainError:
    """One body for a missing record and an invisible one (REC-4): nothing to tell them apart."""
    return DomainError(ErrorCode.NOT_FOUND, f"{entity_type} not found")
