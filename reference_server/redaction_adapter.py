"""The transports' view of redaction (RED-1..3): `domain.redaction`'s rules behind the
`Redaction` port, so REST, sync and fan-out are typed against one small interface."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .domain.redaction import redact_event_for, redact_record
from .store.base import StoredEvent

__all__ = ["DomainRedaction"]


class DomainRedaction:
    def record_for(
        self, viewer_id: str, entity_type: str, record: Mapping[str, Any]
    ) -> dict[str, Any]:
        return redact_record(entity_type, record, viewer_id)

    def event_for(self, viewer_id: str | None, event: StoredEvent) -> dict[str, Any]:
        return redact_event_for(event, viewer_id)
