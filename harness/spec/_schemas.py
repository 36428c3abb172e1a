"""The wire payloads as JSON Schema (SPEC §2–§13), built from the entity and event tables.

Every schema here is plain data: a `dict` in the subset JSON Schema draft-07 and 2020-12 share,
so the same components serve OpenAPI 3.1, AsyncAPI 3.0 (whose default schema format is a
draft-07 superset) and the validators of the suite and the load engine. References point to
`#/components/schemas/<Name>`, the place both documents keep them.

Output schemas (what a server sends) leave `additionalProperties` open: a server may send more
than the spec names. Input schemas (what a client sends) close it: REC-7 refuses unknown fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._entities import (
    COLLECTIONS,
    ENTITY_TYPES,
    FIELDS,
    MAX_TAG_LENGTH,
    MAX_TAGS,
    REDACTED,
    SENSITIVE_FIELDS,
    Action,
    FieldKind,
    FieldSpec,
    Op,
)
from ._errors import ErrorCode
from ._events import data_event_name, stream_kinds

__all__ = [
    "COMPONENTS_PREFIX",
    "Schema",
    "component_schemas",
    "entity_schema_name",
    "ref",
]

Schema = dict[str, Any]
COMPONENTS_PREFIX = "#/components/schemas/"

WIRE_TIMESTAMP_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$"  # TRN-4
DATE_PATTERN = r"^\d{4}-\d{2}-\d{2}$"
STREAM_PATTERN = "^(" + "|".join(stream_kinds()) + "):.+$"  # §7
_TASK_STATUSES = ("queued", "running", "completed", "failed", "cancelled")  # AI-7
_NOTIFICATION_KINDS = tuple(f"record.{a.value}" for a in Action if a is not Action.CREATED)


def ref(name: str) -> Schema:
    return {"$ref": COMPONENTS_PREFIX + name}


def entity_schema_name(entity_type: str, suffix: str) -> str:
    """`("escrow", "Record")` → `EscrowRecord`."""
    return entity_type.capitalize() + suffix


def _obj(properties: Mapping[str, Schema], required: tuple[str, ...] = (), **extra: Any) -> Schema:
    schema: Schema = {"type": "object", "properties": dict(properties)}
    if required:
        schema["required"] = list(required)
    schema.update(extra)
    return schema


_STR: Schema = {"type": "string"}
_ID: Schema = {"type": "string", "minLength": 1}
_INT: Schema = {"type": "integer"}
_TS: Schema = ref("Timestamp")


# Record fields ------------------------------------------------------------------------------


def _field_input(spec: FieldSpec) -> Schema:
    """What a client may send for one field (§4, §15): null clears an optional field."""
    schema = _field_base(spec)
    if not spec.required and spec.name != "visibility":
        return {"anyOf": [schema, {"type": "null"}]}
    return schema


def _field_base(spec: FieldSpec) -> Schema:
    kind = spec.kind
    schema: Schema
    if kind is FieldKind.STRING:
        schema = {"type": "string"}
        if spec.required:
            schema["minLength"] = 1
        if spec.max_length is not None:
            schema["maxLength"] = spec.max_length
    elif kind in (FieldKind.NUMBER, FieldKind.INTEGER):
        schema = {"type": kind.value}
        if spec.minimum is not None:
            schema["exclusiveMinimum" if spec.exclusive_min else "minimum"] = spec.minimum
        if spec.maximum is not None:
            schema["maximum"] = spec.maximum
    elif kind is FieldKind.DATE:
        schema = {"type": "string", "format": "date", "pattern": DATE_PATTERN}
    elif kind is FieldKind.TIMESTAMP:
        schema = {"type": "string", "format": "date-time"}
    elif kind is FieldKind.ENUM:
        schema = {"type": "string", "enum": list(spec.choices)}
    elif kind is FieldKind.TAGS:
        tag = {"type": "string", "maxLength": MAX_TAG_LENGTH}
        schema = {"type": "array", "maxItems": MAX_TAGS, "items": tag}
    elif kind is FieldKind.OBJECT:
        schema = {"type": "object"}
    else:  # DIGITS4
        schema = {"type": "string", "pattern": "^[0-9]{4}$"}
    return schema


def _field_output(spec: FieldSpec, sensitive: bool) -> Schema:
    """What a server may send for one field: timestamps in the TRN-4 form, redacted values."""
    if spec.kind is FieldKind.TIMESTAMP:
        base: Schema = _TS
    else:
        base = _field_base(spec)
    options: list[Schema] = [base]
    if sensitive:
        options.append({"const": REDACTED})
    if not spec.required:
        options.append({"type": "null"})
    return options[0] if len(options) == 1 else {"anyOf": options}


_SERVER_FIELDS: dict[str, Schema] = {
    "id": _ID,
    "version": {"type": "integer", "minimum": 1},
    "ownerId": _ID,
    "teamId": _ID,
    "brokerId": _ID,
    "createdAt": _TS,
    "updatedAt": _TS,
    "archived": {"type": "boolean"},
}


def _record(entity_type: str, sensitive: tuple[str, ...]) -> Schema:
    fields = FIELDS[entity_type]
    properties = dict(_SERVER_FIELDS)
    properties.update({n: _field_output(f, n in sensitive) for n, f in fields.items()})
    required = (*_SERVER_FIELDS, *(n for n, f in fields.items() if f.required))
    return _obj(properties, required, description=f"A {entity_type} as a server sends it (§4).")


def _create_body(entity_type: str) -> Schema:
    fields = FIELDS[entity_type]
    required = tuple(n for n, f in fields.items() if f.required)
    properties = {n: _field_input(f) for n, f in fields.items()}
    return _obj(properties, required, additionalProperties=False)


def _update_body(entity_type: str) -> Schema:
    fields = {n: f for n, f in FIELDS[entity_type].items() if not f.create_only}
    properties = {n: _field_input(f) for n, f in fields.items()}
    return _obj(properties, additionalProperties=False, minProperties=1)


# Events -------------------------------------------------------------------------------------

_DURABLE: dict[str, Schema] = {
    "eventId": _ID,
    "stream": {"type": "string", "pattern": STREAM_PATTERN},
    "seq": {"type": "integer", "minimum": 1},
}


def _data_event(entity_type: str | None, action: Action | None) -> Schema:
    """A data event (§5); `None` for the generic form (any type, any action)."""
    changes: Schema = {"type": "object"}
    if entity_type is not None and action is not None:
        record = entity_schema_name(entity_type, "Record")
        changes = {
            Action.CREATED: ref(record),
            Action.UPDATED: _obj({"updatedAt": _TS}, ("updatedAt",), minProperties=2),
            Action.ARCHIVED: _obj({"archived": {"const": True}, "updatedAt": _TS},
                                  ("archived", "updatedAt")),
            Action.RESTORED: _obj({"archived": {"const": False}, "updatedAt": _TS},
                                  ("archived", "updatedAt")),
            Action.DELETED: {"type": "object", "maxProperties": 0},
        }[action]  # fmt: skip
    properties: dict[str, Schema] = {
        **_DURABLE,
        "entityType": {"const": entity_type} if entity_type else {"enum": list(ENTITY_TYPES)},
        "entityId": _ID,
        "action": {"const": action.value} if action else {"enum": [a.value for a in Action]},
        "version": {"type": "integer", "minimum": 1},
        "changes": changes,
        "actorId": _ID,
        "teamId": _ID,
        "brokerId": _ID,
        "via": {"enum": ["api", "socket", "ai"]},
        "taskId": {"type": ["string", "null"]},
        "timestamp": _TS,
    }
    title = data_event_name(entity_type, action) if entity_type and action else "any data event"
    return _obj(properties, tuple(properties), description=f"`{title}` (§5, §7).")


def _person(*extra: str) -> Schema:
    props: dict[str, Schema] = {"userId": _ID, "name": _STR}
    props.update({k: _INT for k in extra})
    return _obj(props, tuple(props))


def _room_ref() -> dict[str, Schema]:
    return {"entityType": {"enum": list(ENTITY_TYPES)}, "entityId": _ID}


def _events() -> dict[str, Schema]:
    presence = _obj({"userId": _ID, "name": _STR, "teamId": _ID, "timestamp": _TS},
                    ("userId", "name", "teamId", "timestamp"))  # fmt: skip
    task_base = {**_DURABLE, "taskId": _ID, "timestamp": _TS}
    task_required = ("eventId", "stream", "seq", "taskId", "timestamp")

    def task(props: dict[str, Schema], required: tuple[str, ...]) -> Schema:
        return _obj({**task_base, **props}, task_required + required)

    msg = {"message": _STR}
    return {
        "SessionExpired": _obj({"code": {"const": ErrorCode.AUTH_EXPIRED.value}, "timestamp": _TS},
                               ("code", "timestamp")),
        "ServerError": _obj({"code": ref("ErrorCode"), "message": _STR,
                             "retryAfterMs": {"type": "number", "minimum": 0}, "timestamp": _TS},
                            ("code", "message", "timestamp")),
        "Presence": presence,
        "Viewing": _obj({**_room_ref(), "viewers": {"type": "array", "items": _person()},
                         "timestamp": _TS}, ("entityType", "entityId", "viewers", "timestamp")),
        "Editing": _obj({**_room_ref(), "userId": _ID, "name": _STR,
                         "state": {"enum": ["started", "stopped", "expired"]},
                         "expiresAt": _TS, "timestamp": _TS},
                        ("entityType", "entityId", "userId", "name", "state", "timestamp")),
        "Typing": _obj({**_room_ref(), "userId": _ID, "name": _STR,
                        "state": {"enum": ["start", "stop"]}, "timestamp": _TS},
                       ("entityType", "entityId", "userId", "name", "state", "timestamp")),
        "Notification": _obj({**_DURABLE, "kind": {"enum": list(_NOTIFICATION_KINDS)},
                              **_room_ref(), "actorId": _ID, "actorName": _STR,
                              "message": _STR, "timestamp": _TS},
                             ("eventId", "stream", "seq", "kind", "entityType", "entityId",
                              "actorId", "actorName", "message", "timestamp")),
        "AiTaskStarted": task({"taskType": _STR, **msg}, ("taskType", "message")),
        "AiTaskProgress": task({"progress": {"type": "integer", "minimum": 0, "maximum": 100},
                                **msg, "step": _INT, "totalSteps": _INT},
                               ("progress", "message", "step", "totalSteps")),
        "AiTaskCompleted": task({"result": {"type": "object"}, **msg}, ("result", "message")),
        "AiTaskFailed": task({"error": ref("Error"), **msg}, ("error",)),
        "AiTaskCancelled": task(msg, ("message",)),
    }  # fmt: skip


# Client events and their acks ---------------------------------------------------------------


def _ok(props: Mapping[str, Schema] | None = None, required: tuple[str, ...] = ()) -> Schema:
    return _obj({"ok": {"const": True}, **(props or {})}, ("ok", *required))


def _client_events() -> dict[str, Schema]:
    room = _obj(_room_ref(), ("entityType", "entityId"))
    stream_entry = {
        "anyOf": [
            _obj({"head": {"type": "integer", "minimum": 0},
                  "replayed": {"type": "integer", "minimum": 0}}, ("head", "replayed")),
            _obj({"head": {"type": "integer", "minimum": 0}, "reset": {"const": True}},
                 ("head", "reset")),
        ]
    }  # fmt: skip
    changes_any = {"type": "object"}
    return {
        "AuthRefreshRequest": _obj({"token": _STR}, ("token",)),
        "AuthRefreshAck": _ok({"exp": {"type": "number"}}, ("exp",)),
        "SyncRequest": _obj({"cursors": {"type": "object", "propertyNames": {
            "pattern": STREAM_PATTERN}, "additionalProperties": {"type": "integer",
                                                                 "minimum": 0}}}, ("cursors",)),
        "SyncAck": _ok({"streams": {"type": "object", "additionalProperties": stream_entry}},
                       ("streams",)),
        "MutateRequest": _obj({
            "mutationId": {"type": "string", "minLength": 1, "maxLength": 64},
            "op": {"enum": [o.value for o in Op]},
            "entityType": {"enum": list(ENTITY_TYPES)},
            "id": _ID, "changes": changes_any,
            "expectedVersion": {"type": ["integer", "null"], "minimum": 1},
        }, ("mutationId", "op", "entityType"), additionalProperties=False),
        "MutateAck": _ok({"data": {"anyOf": [*(ref(entity_schema_name(t, "Record"))
                                               for t in ENTITY_TYPES),
                                             _obj({"id": _ID}, ("id",))]},
                          "duplicate": {"type": "boolean"}}, ("data", "duplicate")),
        "PresenceListRequest": {"type": "object"},
        "PresenceListAck": _ok({"online": {"type": "array", "items": _person("connections")}},
                               ("online",)),
        "RecordRef": room,
        "RecordViewAck": _ok({"viewers": {"type": "array", "items": _person()}}, ("viewers",)),
        "OkAck": _ok(),
        "EditStartAck": _ok({"lock": _obj({"userId": _ID, "name": _STR, "expiresAt": _TS},
                                          ("userId", "name", "expiresAt"))}, ("lock",)),
        "TypingRequest": _obj({**_room_ref(), "state": {"enum": ["start", "stop"]}},
                              ("entityType", "entityId", "state")),
        "AiTaskCancelRequest": _obj({"taskId": _ID}, ("taskId",)),
        "AiTaskCancelAck": _ok({"taskId": _ID, "status": {"enum": list(_TASK_STATUSES)}},
                               ("taskId", "status")),
        "ErrorAck": _obj({"ok": {"const": False}, "error": ref("Error")}, ("ok", "error")),
    }  # fmt: skip


# REST bodies --------------------------------------------------------------------------------


def _rest() -> dict[str, Schema]:
    task = _obj({"taskId": _ID, "type": _STR, "status": {"enum": list(_TASK_STATUSES)},
                 "progress": {"type": "integer", "minimum": 0, "maximum": 100},
                 "result": {"type": "object"}, "error": ref("Error"),
                 "createdAt": _TS, "finishedAt": _TS},
                ("taskId", "type", "status", "progress", "createdAt"))  # fmt: skip
    limits = {"type": "object", "additionalProperties": {"type": "number", "minimum": 0}}
    return {
        "Info": _obj({
            "specVersion": _STR, "server": _STR, "node": _STR,
            "profiles": {"type": "array", "items": _STR, "contains": {"const": "core"}},
            "heartbeat": _obj({"pingInterval": _INT, "pingTimeout": _INT},
                              ("pingInterval", "pingTimeout")),
            "limits": limits,
            "sensitiveFields": {"type": "object",
                                "additionalProperties": {"type": "array", "items": _STR}},
            "auth": _obj({"algorithms": {"type": "array", "items": _STR, "minItems": 1}},
                         ("algorithms",)),
        }, ("specVersion", "server", "node", "profiles", "heartbeat", "limits",
            "sensitiveFields")),
        "Health": _obj({"status": {"const": "ok"}}, ("status",)),
        "ErrorBody": _obj({"error": ref("Error")}, ("error",)),
        "ActivityPage": _obj({"data": {"type": "array", "items": ref("DataEvent")}}, ("data",)),
        "AiTaskSubmit": _obj({"type": {"enum": ["create_escrow", "import_escrows"]},
                              "params": {"type": "object"}}, ("type", "params")),
        "AiTaskAccepted": _obj({"data": _obj({"taskId": _ID, "status": {"const": "queued"}},
                                             ("taskId", "status"))}, ("data",)),
        "AiTask": task,
        "AiTaskEnvelope": _obj({"data": ref("AiTask")}, ("data",)),
        "AiTaskList": _obj({"data": {"type": "array", "items": ref("AiTask")}}, ("data",)),
        "AiTaskCancelAccepted": _obj({"data": _obj({"taskId": _ID,
                                               "status": {"enum": list(_TASK_STATUSES)}},
                                              ("taskId", "status"))}, ("data",)),
    }  # fmt: skip


def component_schemas(sensitive: Mapping[str, tuple[str, ...]] | None = None) -> dict[str, Schema]:
    """Every named schema, keyed by component name. `sensitive` (info `sensitiveFields`)
    decides which record fields may carry `"[REDACTED]"`; the spec's defaults otherwise."""
    hidden = dict(SENSITIVE_FIELDS if sensitive is None else sensitive)
    schemas: dict[str, Schema] = {
        "Timestamp": {"type": "string", "pattern": WIRE_TIMESTAMP_PATTERN,
                      "description": "ISO-8601 UTC with milliseconds (TRN-4)."},
        "ErrorCode": {"type": "string", "enum": [c.value for c in ErrorCode]},
        "Error": _obj({"code": ref("ErrorCode"), "message": _STR, "details": {"type": "object"}},
                      ("code", "message")),
        "DataEvent": _data_event(None, None),
    }  # fmt: skip
    for entity_type in ENTITY_TYPES:
        name = entity_type.capitalize()
        record = _record(entity_type, tuple(hidden.get(entity_type, ())))
        schemas[f"{name}Record"] = record
        schemas[f"{name}Create"] = _create_body(entity_type)
        schemas[f"{name}Update"] = _update_body(entity_type)
        schemas[f"{name}Envelope"] = _obj({"data": ref(f"{name}Record")}, ("data",))
        schemas[f"{name}Page"] = _obj(
            {"data": {"type": "array", "items": ref(f"{name}Record")},
             "total": {"type": "integer", "minimum": 0}}, ("data", "total"))  # fmt: skip
        for action in Action:
            schemas[f"{name}{action.value.capitalize()}Event"] = _data_event(entity_type, action)
    for part in (_events(), _client_events(), _rest()):
        clash = set(part) & set(schemas)
        assert not clash, f"two schemas named {clash}"
        schemas.update(part)
    assert set(COLLECTIONS) == set(ENTITY_TYPES)
    return schemas
