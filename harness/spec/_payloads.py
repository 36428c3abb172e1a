"""Which schema each payload on the wire has, and which requirement defines it (SPEC §1–§13).

Three tables, all data: the server→client events, the client→server events with their acks,
and the REST routes with their responses. The contract documents (OpenAPI, AsyncAPI) and the
payload validators of the suite and the load engine are generated from them and from
`component_schemas()`, so a payload that breaks its schema is a failure of `requirement`
(or of the id `fields` names for the offending top-level field).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ._entities import COLLECTIONS, ENTITY_TYPES, Action
from ._events import DATA_EVENTS, ClientEvent, ServerEvent, data_event_name

__all__ = [
    "CLIENT_EVENT_CONTRACTS",
    "ERROR_ACK",
    "REST_ERROR",
    "ROUTES",
    "SERVER_EVENT_PAYLOADS",
    "ClientEventContract",
    "Param",
    "Payload",
    "Route",
    "match_route",
]

# Fields every durable event carries (STR-1) and every event's timestamp (TRN-4).
_DURABLE_FIELDS = {"eventId": "STR-1", "stream": "STR-1", "seq": "STR-1", "timestamp": "TRN-4"}


@dataclass(frozen=True, slots=True)
class Payload:
    """A payload's schema (a component name) and the requirement a violation fails."""

    schema: str
    requirement: str
    fields: Mapping[str, str] = field(default_factory=dict)  # top-level field → its own id
    summary: str = ""

    def requirement_for(self, path: tuple[str | int, ...]) -> str:
        """The id a violation at `path` (inside this payload) fails."""
        if path and isinstance(path[0], str) and path[0] in self.fields:
            return self.fields[path[0]]
        return self.requirement


def _data_payload(entity_type: str, action: Action) -> Payload:
    fields = {**_DURABLE_FIELDS, "via": "EVT-4", "taskId": "EVT-4"}
    name = f"{entity_type.capitalize()}{action.value.capitalize()}Event"
    return Payload(name, "EVT-3", fields, f"A {entity_type} was {action.value} (§5).")


SERVER_EVENT_PAYLOADS: dict[str, Payload] = {
    **{data_event_name(t, a): _data_payload(t, a) for t in ENTITY_TYPES for a in Action},
    ServerEvent.SESSION_EXPIRED: Payload("SessionExpired", "AUTH-3", {"timestamp": "TRN-4"},
                                         "The socket's token expired; it is closed (AUTH-3)."),
    ServerEvent.SERVER_ERROR: Payload("ServerError", "LIM-1", {"timestamp": "TRN-4"},
                                      "Events over the rate limit were refused (LIM-1)."),
    ServerEvent.PRESENCE_ONLINE: Payload("Presence", "COL-1", {"timestamp": "TRN-4"},
                                         "A teammate came online (COL-1)."),
    ServerEvent.PRESENCE_OFFLINE: Payload("Presence", "COL-1", {"timestamp": "TRN-4"},
                                          "A teammate went offline (COL-1)."),
    ServerEvent.VIEWING: Payload("Viewing", "COL-3", {"timestamp": "TRN-4"},
                                 "The distinct users viewing a record changed (COL-3)."),
    ServerEvent.EDITING: Payload("Editing", "COL-4", {"timestamp": "TRN-4"},
                                 "A record's edit lock was taken, released or expired (COL-4)."),
    ServerEvent.TYPING: Payload("Typing", "COL-6", {"timestamp": "TRN-4"},
                                "Someone in the record room is typing (COL-6)."),
    ServerEvent.NOTIFICATION: Payload("Notification", "COL-7", _DURABLE_FIELDS,
                                      "Another user changed a record you own (COL-7)."),
    ServerEvent.AI_TASK_STARTED: Payload("AiTaskStarted", "AI-3", _DURABLE_FIELDS,
                                         "Your AI task started (AI-3)."),
    ServerEvent.AI_TASK_PROGRESS: Payload("AiTaskProgress", "AI-3", _DURABLE_FIELDS,
                                          "Your AI task made a step (AI-3)."),
    ServerEvent.AI_TASK_COMPLETED: Payload("AiTaskCompleted", "AI-3", _DURABLE_FIELDS,
                                           "Your AI task completed (AI-3)."),
    ServerEvent.AI_TASK_FAILED: Payload("AiTaskFailed", "AI-3", _DURABLE_FIELDS,
                                        "Your AI task failed (AI-3, AI-4)."),
    ServerEvent.AI_TASK_CANCELLED: Payload("AiTaskCancelled", "AI-3", _DURABLE_FIELDS,
                                           "Your AI task was cancelled (AI-3, AI-5)."),
}  # fmt: skip
assert set(DATA_EVENTS) <= set(SERVER_EVENT_PAYLOADS)


@dataclass(frozen=True, slots=True)
class ClientEventContract:
    """A client→server event: its payload schema and the `ok` ack it gets (TRN-5)."""

    name: str
    request: str  # component name of the payload
    ack: Payload  # the ok ack; a refusal is ERROR_ACK
    summary: str


ERROR_ACK = Payload("ErrorAck", "TRN-5", summary="A refusal, with a code from §13 (TRN-5).")

CLIENT_EVENT_CONTRACTS: dict[str, ClientEventContract] = {
    c.name: c
    for c in (
        ClientEventContract(ClientEvent.AUTH_REFRESH, "AuthRefreshRequest",
                            Payload("AuthRefreshAck", "AUTH-4"), "Replace the token (AUTH-4)."),
        ClientEventContract(ClientEvent.SYNC, "SyncRequest",
                            Payload("SyncAck", "STR-2"), "Replay after cursors (STR-2, STR-3)."),
        ClientEventContract(ClientEvent.MUTATE, "MutateRequest",
                            Payload("MutateAck", "MUT-1"), "A record change (MUT-1, MUT-2)."),
        ClientEventContract(ClientEvent.PRESENCE_LIST, "PresenceListRequest",
                            Payload("PresenceListAck", "COL-2"), "The team online now (COL-2)."),
        ClientEventContract(ClientEvent.RECORD_VIEW, "RecordRef",
                            Payload("RecordViewAck", "COL-3"), "View a record (COL-3)."),
        ClientEventContract(ClientEvent.RECORD_LEAVE, "RecordRef",
                            Payload("OkAck", "COL-3"), "Stop viewing a record (COL-3)."),
        ClientEventContract(ClientEvent.RECORD_EDIT_START, "RecordRef",
                            Payload("EditStartAck", "COL-4"), "Take the edit lock (COL-4)."),
        ClientEventContract(ClientEvent.RECORD_EDIT_STOP, "RecordRef",
                            Payload("OkAck", "COL-4"), "Release the edit lock (COL-4)."),
        ClientEventContract(ClientEvent.TYPING, "TypingRequest",
                            Payload("OkAck", "COL-6"), "Typing in a record (COL-6)."),
        ClientEventContract(ClientEvent.AI_TASK_CANCEL, "AiTaskCancelRequest",
                            Payload("AiTaskCancelAck", "AI-5"), "Cancel an AI task (AI-5)."),
    )
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    where: str  # "query", "header" or "path"
    schema: Mapping[str, object]
    description: str = ""


@dataclass(frozen=True, slots=True)
class Route:
    """One REST operation: its success responses (status → component name, None for no
    body) and the error statuses it may answer with an `ErrorBody` (REC-7)."""

    method: str
    path: str  # template: `{id}`, `{taskId}`
    operation_id: str
    summary: str
    requirement: str
    responses: Mapping[int, str | None]
    errors: tuple[int, ...] = ()
    request: str | None = None
    params: tuple[Param, ...] = ()
    auth: bool = True
    tag: str = "records"
    media_type: str = "application/json"

    def matches(self, method: str, path: str) -> bool:
        if method.upper() != self.method:
            return False
        mine, theirs = self.path.strip("/").split("/"), path.split("?", 1)[0].strip("/").split("/")
        if len(mine) != len(theirs):
            return False
        return all(m == t or (m.startswith("{") and t) for m, t in zip(mine, theirs, strict=True))


REST_ERROR = Payload("ErrorBody", "REC-7", summary='`{"error": {"code", "message", "details"?}}`')

_IF_MATCH = Param("If-Match", "header", {"type": "string"}, '`"n"`, `n`, `W/"n"` or `*` (§15)')
_KEY = Param("Idempotency-Key", "header", {"type": "string", "minLength": 1, "maxLength": 64},
             "MUT-2: one key space with mutationId, per user")  # fmt: skip
_PAGE = (
    Param("limit", "query", {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}),
    Param("offset", "query", {"type": "integer", "minimum": 0, "default": 0}),
    Param("includeArchived", "query", {"type": "string", "enum": ["true", "false"]}),
)
_CHANGE_ERRORS = (400, 401, 404, 409, 413, 422, 423)


def _record_routes(entity_type: str) -> tuple[Route, ...]:
    base = f"/api/v1/{COLLECTIONS[entity_type]}"
    name = entity_type.capitalize()
    env, rid = f"{name}Envelope", Param("id", "path", {"type": "string"})
    return (
        Route("POST", base, f"create{name}", f"Create a {entity_type}", "REC-2",
              {201: env, 200: env}, (400, 401, 413, 422), f"{name}Create", (_KEY,)),
        Route("GET", base, f"list{name}s", f"List visible {entity_type}s, newest first",
              "REC-3", {200: f"{name}Page"}, (400, 401), params=_PAGE),
        Route("GET", f"{base}/{{id}}", f"get{name}", f"Read a {entity_type}", "REC-4",
              {200: env}, (401, 404), params=(rid,)),
        Route("PATCH", f"{base}/{{id}}", f"update{name}", f"Update a {entity_type}", "REC-5",
              {200: env}, _CHANGE_ERRORS, f"{name}Update", (rid, _IF_MATCH, _KEY)),
        Route("POST", f"{base}/{{id}}/archive", f"archive{name}", f"Archive a {entity_type}",
              "REC-6", {200: env}, _CHANGE_ERRORS, None, (rid, _IF_MATCH, _KEY)),
        Route("POST", f"{base}/{{id}}/restore", f"restore{name}", f"Restore a {entity_type}",
              "REC-6", {200: env}, _CHANGE_ERRORS, None, (rid, _IF_MATCH, _KEY)),
        Route("DELETE", f"{base}/{{id}}", f"delete{name}", f"Delete a {entity_type}", "REC-6",
              {204: None}, _CHANGE_ERRORS, None, (rid, _IF_MATCH, _KEY)),
    )  # fmt: skip


_TASK_ID = Param("taskId", "path", {"type": "string"})

ROUTES: tuple[Route, ...] = (
    Route("GET", "/api/v1/realtime/info", "getInfo", "The server's profiles, limits and "
          "settings", "INF-1", {200: "Info"}, auth=False, tag="discovery"),
    Route("GET", "/healthz", "getHealth", "Liveness", "INF-3", {200: "Health"}, (503,),
          auth=False, tag="discovery"),
    Route("GET", "/metrics", "getMetrics", "Prometheus metrics", "MET-1", {200: None},
          auth=False, tag="metrics", media_type="text/plain"),
    *(r for t in ENTITY_TYPES for r in _record_routes(t)),
    Route("GET", "/api/v1/activity", "getActivity", "Data events of the caller's streams, "
          "newest first", "COL-8", {200: "ActivityPage"}, (400, 401),
          params=(Param("limit", "query", {"type": "integer", "minimum": 1, "maximum": 100,
                                           "default": 20}),), tag="collab"),
    Route("POST", "/api/v1/ai/tasks", "submitAiTask", "Start an AI task", "AI-1",
          {202: "AiTaskAccepted"}, (400, 401, 413), "AiTaskSubmit", tag="ai"),
    Route("GET", "/api/v1/ai/tasks", "listAiTasks", "The caller's AI tasks", "AI-7",
          {200: "AiTaskList"}, (401,), tag="ai"),
    Route("GET", "/api/v1/ai/tasks/{taskId}", "getAiTask", "One of the caller's AI tasks",
          "AI-7", {200: "AiTaskEnvelope"}, (401, 404), params=(_TASK_ID,), tag="ai"),
    Route("POST", "/api/v1/ai/tasks/{taskId}/cancel", "cancelAiTask", "Cancel an AI task",
          "AI-5", {202: "AiTaskCancelAccepted"}, (401, 404, 409), params=(_TASK_ID,), tag="ai"),
)  # fmt: skip


def match_route(method: str, path: str) -> Route | None:
    """The route a request went to; literal segments win over `{id}` (`.../ai/tasks/x`)."""
    found = [r for r in ROUTES if r.matches(method, path)]
    found.sort(key=lambda r: r.path.count("{"))
    return found[0] if found else None
