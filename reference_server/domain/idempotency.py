"""Idempotency keys (MUT-2, §15): key checks, request fingerprints, remembered outcomes.

`Idempotency-Key` and `mutationId` share one key space per user. A key remembers only a
successful change: the fingerprint of the request (op, entity type, record id, changes,
expected version) and its result, so that a repeat returns that result and a different
request under the same key is refused.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from harness.spec import ErrorCode, Op

from ..store.base import IdempotencyEntry
from .contracts import ChangeOutcome, ChangeRequest, DomainError
from .validation import is_storable_key, validation_error

__all__ = [
    "MAX_KEY_LENGTH",
    "check_key",
    "entry_for",
    "fingerprint",
    "replay_outcome",
    "reused_key_error",
]

MAX_KEY_LENGTH = 64


def check_key(request: ChangeRequest) -> str | None:
    """The request's key if it has one; VALIDATION_ERROR unless it is 1–64 characters."""
    key = request.idempotency_key
    if key is None:
        return None
    if not isinstance(key, str) or not 1 <= len(key) <= MAX_KEY_LENGTH or not is_storable_key(key):
        raise validation_error(
            f"{request.idempotency_key_field} must be 1 to {MAX_KEY_LENGTH} characters",
            request.idempotency_key_field,
        )
    return key


def fingerprint(request: ChangeRequest) -> str:
    """Stable across processes: one request always hashes the same, whatever the node."""
    record_id = None if request.op is Op.CREATE else request.record_id
    material = [
        str(request.op),
        request.entity_type,
        record_id,
        request.changes,
        request.expected_version,
    ]
    text = json.dumps(material, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def entry_for(request: ChangeRequest, outcome: ChangeOutcome, now: float) -> IdempotencyEntry:
    return IdempotencyEntry(
        fingerprint=fingerprint(request),
        status=outcome.status,
        body=outcome.record,
        stored_at=now,
        extra={"recordId": outcome.record_id},
    )


def replay_outcome(entry: IdempotencyEntry) -> ChangeOutcome:
    """The remembered result, marked duplicate; a repeated create answers 200 (REC-2)."""
    status = entry.status if entry.status == 204 else 200
    body: dict[str, Any] | None = None if entry.body is None else dict(entry.body)
    return ChangeOutcome(
        record_id=str(entry.extra.get("recordId", "")),
        record=body,
        status=status,
        duplicate=True,
    )


def reused_key_error(field: str) -> DomainError:
    return DomainError(
        ErrorCode.IDEMPOTENCY_KEY_REUSED,
        f"this {field} was already used for a different request",
        {"field": field},
    )
