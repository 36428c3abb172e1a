"""What the transports (REST, Socket.IO, the AI task runner) ask of the domain, and get back.

The domain (`domain.records.RecordService`) owns validation (REC-7, §15), visibility (REC-1),
versions and `If-Match` (REC-5), idempotency (MUT-2) and event building (§5); transports own
wire formats, auth and fan-out. A transport turns a `DomainError` into its own error shape.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from harness.spec import HTTP_STATUS, ErrorCode, Op

from ..store.base import StoredEvent

__all__ = [
    "Actor",
    "ChangeOutcome",
    "ChangeRequest",
    "DomainError",
    "EventPublisher",
    "Via",
]

Via = Literal["api", "socket", "ai"]


@dataclass(frozen=True, slots=True)
class Actor:
    """The authenticated user a request acts for (from the JWT claims, SPEC §3)."""

    user_id: str
    team_id: str
    broker_id: str
    name: str

    @property
    def streams(self) -> tuple[str, str, str]:
        return (f"broker:{self.broker_id}", f"team:{self.team_id}", f"user:{self.user_id}")


class DomainError(Exception):
    """A refusal with a spec error code; `message` never carries a sensitive value (RED-4)."""

    def __init__(
        self, code: ErrorCode, message: str, details: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = dict(details) if details is not None else None

    @property
    def http_status(self) -> int:
        return HTTP_STATUS.get(self.code, 400)

    def to_json(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code.value, "message": self.message}
        if self.details is not None:
            error["details"] = self.details
        return error


@dataclass(frozen=True, slots=True)
class ChangeRequest:
    op: Op
    entity_type: str
    record_id: str | None = None
    changes: Any = None  # validated by the domain: may be anything a client sent
    expected_version: int | None = None  # If-Match / expectedVersion; None = no check
    idempotency_key: str | None = None  # Idempotency-Key / mutationId: one key space per user
    via: Via = "api"
    task_id: str | None = None
    # The name a VALIDATION_ERROR gives a bad key in `details.field` (REST header / mutate field).
    idempotency_key_field: str = "Idempotency-Key"


@dataclass(frozen=True, slots=True)
class ChangeOutcome:
    """A change that succeeded, or the remembered result of one (duplicate=True).

    `record` holds true values (None after delete); the transport redacts for its caller.
    `events` are what was stored and must now be published; empty for a duplicate or a no-op.
    """

    record_id: str
    record: dict[str, Any] | None
    status: int  # 201 created, 200 otherwise, 204 deleted
    duplicate: bool = False
    events: Sequence[StoredEvent] = field(default_factory=tuple)


class EventPublisher(Protocol):
    """Fan-out of stored events to sockets, called after commit (EVT-5)."""

    async def publish(self, events: Sequence[StoredEvent]) -> None: ...
