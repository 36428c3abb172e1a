"""Every payload a check receives is validated against the spec's schemas, as it arrives.

`PayloadCheck` is the `PayloadListener` the `crm` fixture installs on every client it opens;
when the check ends, each distinct violation becomes a failure of the requirement that defines
the payload (not necessarily the check's own ids), with the JSON path of the offending field.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from harness.contract import PayloadValidator, Violation

if TYPE_CHECKING:
    import pytest

    from harness.client import Ack, ReceivedEvent, RestResponse

__all__ = ["VIOLATION_PROPERTY", "PayloadCheck"]

VIOLATION_PROPERTY = "crm-violation"


@dataclass
class PayloadCheck:
    """Collects the violations of one check's traffic, each (where, path, message) once."""

    validator: PayloadValidator
    violations: dict[tuple[str, str, str], tuple[Violation, int]] = field(default_factory=dict)
    checked: int = 0

    def _add(self, found: list[Violation]) -> None:
        for violation in found:
            key = (violation.where, violation.path, violation.message)
            first, count = self.violations.get(key, (violation, 0))
            self.violations[key] = (first, count + 1)

    def event_received(self, event: ReceivedEvent) -> None:
        self.checked += 1
        self._add(self.validator.event(event.name, event.payload))

    def ack_received(self, ack: Ack) -> None:
        if ack.timed_out:
            return
        self.checked += 1
        self._add(self.validator.ack(ack.event, ack.raw))

    def response_received(self, response: RestResponse) -> None:
        self.checked += 1
        self._add(self.validator.response(response.method, response.path, response.status,
                                          response.body))  # fmt: skip

    def attach_to(self, item: pytest.Item) -> None:
        """Hand the violations to the session (user properties reach the teardown report)."""
        for violation, count in self.violations.values():
            data = {**violation.to_json(), "count": count}
            item.user_properties.append((VIOLATION_PROPERTY, json.dumps(data)))
