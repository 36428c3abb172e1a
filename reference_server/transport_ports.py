"""What the transports need from the domain, as Protocols, so REST and Socket.IO code is
typed against the seam rather than one implementation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from .domain.contracts import Actor, ChangeOutcome, ChangeRequest
from .store.base import StoredEvent

__all__ = ["Records", "Redaction"]


class Records(Protocol):
    """`domain.records.RecordService`, as the transports call it."""

    async def change(self, actor: Actor, request: ChangeRequest) -> ChangeOutcome: ...

    async def get(self, actor: Actor, entity_type: str, record_id: str) -> dict[str, Any]: ...

    async def list(
        self,
        actor: Actor,
        entity_type: str,
        *,
        limit: int,
        offset: int,
        include_archived: bool,
    ) -> tuple[list[dict[str, Any]], int]: ...

    async def purge_expired_keys(self) -> int:
        """Forget idempotency keys past their TTL (MUT-2); the app runs it now and then."""
        ...


class Redaction(Protocol):
    """Per-recipient views of records and events (RED-1, RED-2)."""

    def record_for(
        self, viewer_id: str, entity_type: str, record: Mapping[str, Any]
    ) -> dict[str, Any]: ...

    def event_for(self, viewer_id: str | None, event: StoredEvent) -> dict[str, Any]:
        """The wire payload as `viewer_id` sees it; None: as any non-owner sees it."""
