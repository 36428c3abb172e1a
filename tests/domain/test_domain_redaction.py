"""Per-recipient redaction of records and events (RED-1..3)."""

from __future__ import annotations

from typing import Any

import pytest
from domain_doubles import Harness

from harness.spec import REDACTED, SENSITIVE_FIELDS, Op
from reference_server.domain.contracts import Actor, ChangeRequest
from reference_server.domain.redaction import (
    event_variants,
    redact_event_for,
    redact_record,
)
from reference_server.store import StoredEvent

SENSITIVE_CREATES: dict[str, dict[str, Any]] = {
    "escrow": {"address": "1 Main", "myCommission": 1200, "grossCommission": 4800},
    "listing": {"address": "2 Oak", "listingCommission": 3.5},
    "client": {"name": "Pat", "ssnLast4": "1234"},
}


@pytest.mark.parametrize("entity_type", sorted(SENSITIVE_CREATES))
async def test_record_and_created_event_redacted_for_non_owner(
    domain: Harness, alice: Actor, bob: Actor, entity_type: str
) -> None:
    """RED-1, RED-2, RED-3: owner sees true values; others see "[REDACTED]", same ids."""
    body = SENSITIVE_CREATES[entity_type]
    created = await domain.service.change(
        alice, ChangeRequest(Op.CREATE, entity_type, changes=body)
    )
    assert created.record is not None
    for name in SENSITIVE_FIELDS[entity_type]:
        assert redact_record(entity_type, created.record, "u-alice")[name] == body[name]
        assert redact_record(entity_type, created.record, "u-bob")[name] == REDACTED
    (event,) = created.events
    mine, theirs = redact_event_for(event, "u-alice"), redact_event_for(event, "u-bob")
    for name in SENSITIVE_FIELDS[entity_type]:
        assert mine["changes"][name] == body[name]
        assert theirs["changes"][name] == REDACTED
    for key in ("eventId", "stream", "seq", "version", "timestamp"):
        assert mine[key] == theirs[key]
    assert event_variants(event) == (mine, theirs)
    assert redact_event_for(event, None) == theirs  # nobody in particular: redacted


async def test_absent_sensitive_fields_stay_absent(domain: Harness, alice: Actor) -> None:
    """RED-1: only fields that are present are redacted; an update not touching them is shared."""
    created = await domain.service.change(
        alice, ChangeRequest(Op.CREATE, "escrow", changes={"address": "x", "myCommission": 5})
    )
    assert created.record is not None
    other_view = redact_record("escrow", created.record, "u-bob")
    assert other_view["myCommission"] == REDACTED and "grossCommission" not in other_view
    updated = await domain.service.change(
        alice, ChangeRequest(Op.UPDATE, "escrow", created.record_id, {"status": "pending"})
    )
    (event,) = updated.events
    assert event_variants(event)[1] is None  # one payload fits all
    assert redact_event_for(event, "u-bob") == event.wire()


async def test_update_of_a_sensitive_field_redacts_only_that_field(
    domain: Harness, alice: Actor, bob: Actor
) -> None:
    """RED-1, RED-3: a teammate's change of a commission reaches the owner true, others not."""
    created = await domain.service.change(
        alice, ChangeRequest(Op.CREATE, "escrow", changes={"address": "x"})
    )
    updated = await domain.service.change(
        bob,
        ChangeRequest(
            Op.UPDATE, "escrow", created.record_id, {"grossCommission": 9000, "notes": "n"}
        ),
    )
    (event,) = updated.events
    assert redact_event_for(event, "u-alice")["changes"]["grossCommission"] == 9000
    bobs = redact_event_for(event, "u-bob")
    assert bobs["changes"]["grossCommission"] == REDACTED and bobs["changes"]["notes"] == "n"
    assert "myCommission" not in bobs["changes"]


def test_events_without_an_owner_are_never_redacted() -> None:
    """RED-1: notifications and AI task events carry nothing sensitive (owner_id None)."""
    event = StoredEvent(
        "e1",
        "user:u1",
        1,
        "notification",
        {"changes": {"myCommission": 1}},
        None,
        "escrow",
        "2026-11-26T12:00:00.000Z",
        1.0,
    )
    assert redact_event_for(event, "u-2") == event.wire()
