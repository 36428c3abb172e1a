"""Validate what a server sends against the spec's schemas; a violation names the requirement
that defines the payload and the JSON path of the offending field.

    validator = PayloadValidator(info.get("sensitiveFields"))
    validator.event("escrow:updated", payload)          # [] or [Violation(...)]
    validator.ack("mutate", raw_ack)
    validator.response("GET", "/api/v1/escrows/e-1", 200, body)

Schemas compile once per validator (jsonschema-rs: a check costs well under a microsecond for
a valid payload, so the load engine can afford to sample deliveries on its hot path).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jsonschema_rs

from harness.spec import (
    CLIENT_EVENT_CONTRACTS,
    COMPONENTS_PREFIX,
    ERROR_ACK,
    REST_ERROR,
    SERVER_EVENT_PAYLOADS,
    Payload,
    component_schemas,
    match_route,
)

__all__ = ["PayloadValidator", "Violation", "json_path"]

_MAX_PER_PAYLOAD = 5  # enough evidence; a payload broken everywhere would flood the report


@dataclass(frozen=True, slots=True)
class Violation:
    """One field of one payload that breaks its schema."""

    requirement: str
    where: str  # "event escrow:updated", "ack of mutate", "GET /api/v1/escrows/{id} → 200"
    path: str  # JSON path of the offending field, `$.changes.version`
    message: str
    schema: str  # the component the payload was checked against

    def to_json(self) -> dict[str, str]:
        return {"requirement": self.requirement, "where": self.where, "path": self.path,
                "message": self.message, "schema": self.schema}  # fmt: skip

    def __str__(self) -> str:
        return f"{self.where}: {self.path}: {self.message} (schema {self.schema})"


def json_path(parts: tuple[str | int, ...]) -> str:
    text = "$"
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


class PayloadValidator:
    """Compiled validators of every payload the spec defines (see `harness.spec._payloads`)."""

    def __init__(self, sensitive_fields: Mapping[str, Any] | None = None) -> None:
        sensitive = None
        if isinstance(sensitive_fields, Mapping):
            sensitive = {str(t): tuple(str(f) for f in v) for t, v in sensitive_fields.items()
                         if isinstance(v, list | tuple)}  # fmt: skip
        self._components = component_schemas(sensitive)
        self._compiled: dict[str, Any] = {}

    def _validator(self, name: str) -> Any:
        compiled = self._compiled.get(name)
        if compiled is None:
            root = {"$ref": COMPONENTS_PREFIX + name, "components": {"schemas": self._components}}
            compiled = self._compiled[name] = jsonschema_rs.validator_for(root)
        return compiled

    def is_valid(self, schema: str, instance: Any) -> bool:
        return bool(self._validator(schema).is_valid(instance))

    def check(self, payload: Payload, instance: Any, where: str) -> list[Violation]:
        validator = self._validator(payload.schema)
        if validator.is_valid(instance):
            return []
        found: list[Violation] = []
        for error in validator.iter_errors(instance):
            parts = tuple(error.instance_path)
            missing = getattr(error.kind, "property", None)
            if type(error.kind).__name__ == "Required" and isinstance(missing, str):
                parts = (*parts, missing)
            requirement = payload.requirement_for(parts)
            found.append(Violation(requirement, where, json_path(parts), error.message,
                                   payload.schema))  # fmt: skip
            if len(found) >= _MAX_PER_PAYLOAD:
                break
        return found

    # the three kinds of payload ---------------------------------------------------------------

    def event(self, name: str, payload: Any) -> list[Violation]:
        """A server→client event; events the spec does not define are not judged."""
        spec = SERVER_EVENT_PAYLOADS.get(name)
        if spec is None:
            return []
        if not isinstance(payload, Mapping):  # TRN-4: one JSON object
            return [Violation("TRN-4", f"event {name}", "$", "payload is not a JSON object",
                              spec.schema)]  # fmt: skip
        return self.check(spec, payload, f"event {name}")

    def ack(self, event: str, raw: Any) -> list[Violation]:
        """The ack of a client event: the event's ok ack, or an error ack (TRN-5)."""
        where = f"ack of {event}"
        if isinstance(raw, Mapping) and raw.get("ok") is True:
            contract = CLIENT_EVENT_CONTRACTS.get(event)
            return self.check(contract.ack, raw, where) if contract else []
        if isinstance(raw, Mapping) and raw.get("ok") is False:
            return self.check(ERROR_ACK, raw, where)
        return [Violation("TRN-5", where, "$.ok", "an ack must be an object with ok true or "
                          "false", ERROR_ACK.schema)]  # fmt: skip

    def response(self, method: str, path: str, status: int, body: Any) -> list[Violation]:
        """A REST answer: its route's success body, or an error body (REC-7) for 4xx/5xx."""
        route = match_route(method, path)
        if route is None:
            return []
        where = f"{route.method} {route.path} → {status}"
        if status >= 400:
            if body is None or route.media_type != "application/json":
                return []
            return self.check(REST_ERROR, body, where)
        if status not in route.responses:
            return [Violation(route.requirement, where, "$", f"status {status} is not one the "
                              f"spec gives ({sorted(route.responses)})", "-")]  # fmt: skip
        schema = route.responses[status]
        if schema is None:
            return []
        return self.check(Payload(schema, route.requirement), body, where)
