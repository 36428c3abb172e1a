"""What one simulated user knows of the records it may change: type, version, scope, archived.

It learns from the data events its sockets receive and from its own changes' answers, and
forgets a record when it is deleted. A user knows at most `MAX_KNOWN` records (the oldest
learned goes first): enough to pick targets, flat in memory at 10,000 users.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

__all__ = ["MAX_KNOWN", "KnownRecord", "KnownRecords", "scope_of_visibility"]

MAX_KNOWN = 64
_SCOPE_OF_VISIBILITY = {"team": "team", "broker": "broker", "private": "user"}
_ARCHIVED_AFTER = {"archived": True, "restored": False}


@dataclass(slots=True)
class KnownRecord:
    """What an agent knows of a record it may change."""

    entity_type: str
    version: int
    scope: str
    archived: bool = False


def scope_of_visibility(visibility: str) -> str:
    """The stream kind a record's events travel on (SPEC §7)."""
    return _SCOPE_OF_VISIBILITY.get(visibility, "team")


class KnownRecords(dict[str, KnownRecord]):
    """entity id → `KnownRecord`; `owners` (entity id → owner, shared by the process) learns
    the owners of the records this user creates, for the redaction check (RED-1)."""

    def __init__(self, owners: MutableMapping[str, str]) -> None:
        super().__init__()
        self.owners = owners

    def learn(self, payload: Mapping[str, Any]) -> bool:
        """A data event: the record exists at this version (or no longer, when deleted).
        False when the payload is no data event (no entityId or action)."""
        entity_id = payload.get("entityId")
        action = payload.get("action")
        if not isinstance(entity_id, str) or action is None:
            return False
        if action == "deleted":
            self.pop(entity_id, None)
            return True
        record = self.get(entity_id)
        version = int(payload.get("version") or 0)
        if record is None:
            if len(self) >= MAX_KNOWN:
                self.pop(next(iter(self)))
            stream = str(payload.get("stream", "team:"))
            record = KnownRecord(str(payload.get("entityType")), version, stream.split(":")[0])
            self[entity_id] = record
        record.version = max(record.version, version)
        record.archived = _ARCHIVED_AFTER.get(action, record.archived)
        return True

    def remember(
        self, data: Any, visibility: str | None = None, entity_type: str = ""
    ) -> tuple[str, int, str]:
        """A change's answer (the record as stored); (entity id, version, scope), or
        ("", 0, "") when the answer holds no record."""
        if not isinstance(data, dict) or not isinstance(data.get("id"), str):
            return "", 0, ""
        entity_id = data["id"]
        version = int(data.get("version") or 0)
        scope = scope_of_visibility(str(visibility or data.get("visibility") or "team"))
        if isinstance(data.get("ownerId"), str):
            self.owners.setdefault(entity_id, data["ownerId"])
        record = self.get(entity_id)
        if record is None:
            record = KnownRecord(entity_type or str(data.get("entityType", "")), version, scope)
            self[entity_id] = record
        elif entity_type:
            record.entity_type = entity_type
        record.version = max(record.version, version)
        record.archived = bool(data.get("archived", record.archived))
        return entity_id, version, record.scope
