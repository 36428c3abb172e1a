"""Change bodies an agent sends: valid by SPEC §4, small, and sometimes sensitive (RED-1 probe)."""

from __future__ import annotations

import random
import uuid

from harness.spec import SENSITIVE_FIELDS

__all__ = ["create_body", "update_body"]

_STATUS = {
    "escrow": ("open", "pending", "closed"),
    "listing": ("active", "pending", "sold", "withdrawn"),
    "lead": ("new", "contacted", "qualified", "lost"),
}


def _sensitive_value(entity_type: str, rng: random.Random) -> dict[str, object]:
    names = SENSITIVE_FIELDS.get(entity_type, ())
    if not names:
        return {}
    name = rng.choice(names)
    if name == "ssnLast4":
        return {name: f"{rng.randrange(10000):04d}"}
    return {name: round(rng.uniform(1000, 50000), 2)}


def create_body(
    entity_type: str, visibility: str, rng: random.Random, sensitive: bool
) -> dict[str, object]:
    tag = uuid.uuid4().hex[:8]
    body: dict[str, object] = {"visibility": visibility}
    if entity_type in ("escrow", "listing"):
        body["address"] = f"{rng.randrange(1, 9999)} Load St #{tag}"
        body["purchasePrice" if entity_type == "escrow" else "listPrice"] = rng.randrange(
            100_000, 2_000_000
        )
    elif entity_type == "appointment":
        body["title"] = f"Showing {tag}"
        body["startsAt"] = "2026-12-01T10:00:00.000Z"
    else:
        body["name"] = f"Load Person {tag}"
    if sensitive:
        body.update(_sensitive_value(entity_type, rng))
    return body


def update_body(entity_type: str, rng: random.Random, sensitive: bool) -> dict[str, object]:
    """A one-field change (EVT-6's case), a sensitive field when asked and the type has one."""
    if sensitive:
        value = _sensitive_value(entity_type, rng)
        if value:
            return value
    statuses = _STATUS.get(entity_type)
    if statuses and rng.random() < 0.5:
        return {"status": rng.choice(statuses)}
    return {"notes": f"note {uuid.uuid4().hex[:12]}"}
