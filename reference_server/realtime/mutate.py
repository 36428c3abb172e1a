"""`mutate` (MUT-1..3): the socket form of every REST change."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.spec import ENTITY_TYPES, Op

from ..domain.contracts import Actor, ChangeOutcome, ChangeRequest
from ..transport_ports import Redaction
from .acks import Ack, ack_ok, validation_error

__all__ = ["MAX_KEY_LENGTH", "change_request_from_mutate", "mutate_ack"]

MAX_KEY_LENGTH = 64  # MUT-2: mutationId and Idempotency-Key are 1–64 characters


def change_request_from_mutate(payload: Any) -> ChangeRequest:
    if not isinstance(payload, Mapping):
        raise validation_error("mutate payload must be an object")
    mutation_id = payload.get("mutationId")
    if not isinstance(mutation_id, str) or not 1 <= len(mutation_id) <= MAX_KEY_LENGTH:
        raise validation_error("mutationId must be a string of 1–64 characters", "mutationId")
    try:
        op = Op(str(payload.get("op")))
    except ValueError:
        raise validation_error("op must be one of " + ", ".join(Op), "op") from None
    entity_type = payload.get("entityType")
    if entity_type not in ENTITY_TYPES:
        raise validation_error("entityType must be one of " + ", ".join(ENTITY_TYPES), "entityType")
    record_id = payload.get("id")
    if op is Op.CREATE:
        record_id = None  # §15: an id sent with create is ignored
    elif not isinstance(record_id, str) or not record_id:
        raise validation_error("id must be a non-empty string", "id")
    expected = payload.get("expectedVersion")
    if expected is not None and (isinstance(expected, bool) or not isinstance(expected, int)):
        raise validation_error("expectedVersion must be an integer", "expectedVersion")
    return ChangeRequest(
        op=op,
        entity_type=entity_type,
        record_id=record_id,
        changes=payload.get("changes") if op in (Op.CREATE, Op.UPDATE) else None,
        expected_version=expected,
        idempotency_key=mutation_id,
        via="socket",
        idempotency_key_field="mutationId",
    )


def mutate_ack(
    actor: Actor, request: ChangeRequest, outcome: ChangeOutcome, redaction: Redaction
) -> Ack:
    if outcome.record is None:
        data: dict[str, Any] = {"id": outcome.record_id}
    else:
        data = redaction.record_for(actor.user_id, request.entity_type, outcome.record)
    return ack_ok(data=data, duplicate=outcome.duplicate)
