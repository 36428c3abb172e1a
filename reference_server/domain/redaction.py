"""Per-recipient redaction of sensitive fields (SPEC §6, RED-1..3).

The store keeps true values; every path out (REST, live events, replay, activity feed) passes
through here with the viewing user's id. The owner gets the true values (RED-2); anyone else
gets `"[REDACTED]"` for each sensitive field that is present, and absent fields stay absent
(RED-1). A fan-out that encodes once per variant can use `event_variants`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.spec import REDACTED, SENSITIVE_FIELDS

from ..store.base import StoredEvent

__all__ = [
    "event_needs_redaction",
    "event_variants",
    "redact_event_for",
    "redact_fields",
    "redact_record",
]


def redact_fields(entity_type: str | None, fields: Mapping[str, Any]) -> dict[str, Any]:
    """`fields` with every sensitive field of `entity_type` that is present redacted."""
    sensitive = SENSITIVE_FIELDS.get(entity_type or "", ())
    return {name: REDACTED if name in sensitive else value for name, value in fields.items()}


def redact_record(
    entity_type: str, record: Mapping[str, Any], viewer_id: str | None
) -> dict[str, Any]:
    """The record as `viewer_id` may see it: true values for its owner only (RED-1, RED-2)."""
    if viewer_id is not None and record.get("ownerId") == viewer_id:
        return dict(record)
    return redact_fields(entity_type, record)


def event_needs_redaction(event: StoredEvent) -> bool:
    """Whether a non-owner's copy of `event` differs from the owner's."""
    if event.owner_id is None or not SENSITIVE_FIELDS.get(event.entity_type or ""):
        return False
    changes = event.payload.get("changes")
    return isinstance(changes, Mapping) and any(
        name in changes for name in SENSITIVE_FIELDS[event.entity_type or ""]
    )


def _redacted_wire(event: StoredEvent) -> dict[str, Any]:
    wire = event.wire()
    wire["changes"] = redact_fields(event.entity_type, event.payload["changes"])
    return wire


def redact_event_for(event: StoredEvent, viewer_id: str | None) -> dict[str, Any]:
    """The wire payload of `event` for `viewer_id` (RED-3: same eventId/stream/seq for all)."""
    if viewer_id == event.owner_id or not event_needs_redaction(event):
        return event.wire()
    return _redacted_wire(event)


def event_variants(event: StoredEvent) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(the owner's payload, everyone else's) — None for the second when they are the same."""
    owner = event.wire()
    return owner, (_redacted_wire(event) if event_needs_redaction(event) else None)
