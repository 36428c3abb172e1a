"""Record types, their collections, client-settable fields and sensitive fields (SPEC §4, §6)."""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = [
    "COLLECTIONS",
    "ENTITY_TYPES",
    "FIELDS",
    "MAX_CUSTOM_FIELDS_BYTES",
    "MAX_TAGS",
    "MAX_TAG_LENGTH",
    "READ_ONLY_FIELDS",
    "REDACTED",
    "SENSITIVE_FIELDS",
    "VISIBILITIES",
    "Action",
    "EntityType",
    "FieldKind",
    "FieldSpec",
    "Op",
]

REDACTED = "[REDACTED]"


class EntityType(enum.StrEnum):
    ESCROW = "escrow"
    LISTING = "listing"
    CLIENT = "client"
    APPOINTMENT = "appointment"
    LEAD = "lead"


ENTITY_TYPES: tuple[str, ...] = tuple(t.value for t in EntityType)

COLLECTIONS: dict[str, str] = {
    "escrow": "escrows",
    "listing": "listings",
    "client": "clients",
    "appointment": "appointments",
    "lead": "leads",
}

VISIBILITIES: tuple[str, ...] = ("team", "broker", "private")

READ_ONLY_FIELDS: frozenset[str] = frozenset(
    {"id", "version", "ownerId", "teamId", "brokerId", "createdAt", "updatedAt", "archived"}
)

SENSITIVE_FIELDS: dict[str, tuple[str, ...]] = {
    "escrow": ("myCommission", "grossCommission"),
    "listing": ("listingCommission",),
    "client": ("ssnLast4",),
    "appointment": (),
    "lead": (),
}


class Action(enum.StrEnum):
    """The `{type}:{action}` suffix of a data event (SPEC §5)."""

    CREATED = "created"
    UPDATED = "updated"
    ARCHIVED = "archived"
    RESTORED = "restored"
    DELETED = "deleted"


class Op(enum.StrEnum):
    """`mutate` operations (SPEC §8); each maps to one Action."""

    CREATE = "create"
    UPDATE = "update"
    ARCHIVE = "archive"
    RESTORE = "restore"
    DELETE = "delete"

    @property
    def action(self) -> Action:
        return {
            Op.CREATE: Action.CREATED,
            Op.UPDATE: Action.UPDATED,
            Op.ARCHIVE: Action.ARCHIVED,
            Op.RESTORE: Action.RESTORED,
            Op.DELETE: Action.DELETED,
        }[self]


class FieldKind(enum.StrEnum):
    STRING = "string"
    NUMBER = "number"
    INTEGER = "integer"
    DATE = "date"  # YYYY-MM-DD
    TIMESTAMP = "timestamp"  # RFC 3339 in, TRN-4 form out
    ENUM = "enum"
    TAGS = "tags"
    OBJECT = "object"
    DIGITS4 = "digits4"


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One client-settable field. Bounds are inclusive unless `exclusive_min` is set."""

    name: str
    kind: FieldKind
    required: bool = False
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    exclusive_min: bool = False
    max_length: int | None = None
    create_only: bool = False


_COMMON: tuple[FieldSpec, ...] = (
    FieldSpec("visibility", FieldKind.ENUM, choices=VISIBILITIES, create_only=True),
    FieldSpec("notes", FieldKind.STRING, max_length=10000),
    FieldSpec("tags", FieldKind.TAGS),
    FieldSpec("customFields", FieldKind.OBJECT),
)

_NAME_LEN = 500  # §15: address, name and title are at most 500 characters

FIELDS: dict[str, dict[str, FieldSpec]] = {
    t: {f.name: f for f in _COMMON + own}
    for t, own in {
        "escrow": (
            FieldSpec("address", FieldKind.STRING, required=True, max_length=_NAME_LEN),
            FieldSpec("purchasePrice", FieldKind.NUMBER, minimum=0, exclusive_min=True),
            FieldSpec("status", FieldKind.ENUM, choices=("open", "pending", "closed")),
            FieldSpec("closingDate", FieldKind.DATE),
            FieldSpec("myCommission", FieldKind.NUMBER, minimum=0),
            FieldSpec("grossCommission", FieldKind.NUMBER, minimum=0),
        ),
        "listing": (
            FieldSpec("address", FieldKind.STRING, required=True, max_length=_NAME_LEN),
            FieldSpec("listPrice", FieldKind.NUMBER, minimum=0, exclusive_min=True),
            FieldSpec("status", FieldKind.ENUM, choices=("active", "pending", "sold", "withdrawn")),
            FieldSpec("listingCommission", FieldKind.NUMBER, minimum=0),
        ),
        "client": (
            FieldSpec("name", FieldKind.STRING, required=True, max_length=_NAME_LEN),
            FieldSpec("email", FieldKind.STRING),
            FieldSpec("phone", FieldKind.STRING),
            FieldSpec("ssnLast4", FieldKind.DIGITS4),
        ),
        "appointment": (
            FieldSpec("title", FieldKind.STRING, required=True, max_length=_NAME_LEN),
            FieldSpec("startsAt", FieldKind.TIMESTAMP, required=True),
            FieldSpec("endsAt", FieldKind.TIMESTAMP),
            FieldSpec("clientId", FieldKind.STRING),
        ),
        "lead": (
            FieldSpec("name", FieldKind.STRING, required=True, max_length=_NAME_LEN),
            FieldSpec("source", FieldKind.STRING),
            FieldSpec("status", FieldKind.ENUM, choices=("new", "contacted", "qualified", "lost")),
            FieldSpec("score", FieldKind.INTEGER, minimum=0, maximum=100),
        ),
    }.items()
}

MAX_TAGS = 50
MAX_TAG_LENGTH = 64
MAX_CUSTOM_FIELDS_BYTES = 8192
