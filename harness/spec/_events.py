"""Event names on the wire (SPEC §3, §5, §7–§11)."""

from __future__ import annotations

from ._entities import ENTITY_TYPES, Action

__all__ = [
    "AI_TASK_EVENTS",
    "AI_TASK_TERMINAL_EVENTS",
    "CLIENT_EVENTS",
    "DATA_EVENTS",
    "EPHEMERAL_EVENTS",
    "ClientEvent",
    "ServerEvent",
    "data_event_name",
    "stream_kinds",
]


def data_event_name(entity_type: str, action: Action | str) -> str:
    return f"{entity_type}:{Action(action).value}"


DATA_EVENTS: tuple[str, ...] = tuple(data_event_name(t, a) for t in ENTITY_TYPES for a in Action)


class ClientEvent:
    """Client→server events; each is sent with an ack (TRN-5)."""

    AUTH_REFRESH = "auth:refresh"
    SYNC = "sync"
    MUTATE = "mutate"
    PRESENCE_LIST = "presence:list"
    RECORD_VIEW = "record:view"
    RECORD_LEAVE = "record:leave"
    RECORD_EDIT_START = "record:edit:start"
    RECORD_EDIT_STOP = "record:edit:stop"
    TYPING = "typing"
    AI_TASK_CANCEL = "ai:task:cancel"


CLIENT_EVENTS: tuple[str, ...] = tuple(
    v for k, v in vars(ClientEvent).items() if not k.startswith("_")
)


class ServerEvent:
    """Server→client events other than the data events."""

    SESSION_EXPIRED = "session:expired"
    SERVER_ERROR = "server:error"
    PRESENCE_ONLINE = "user:presence:online"
    PRESENCE_OFFLINE = "user:presence:offline"
    VIEWING = "user:viewing"
    EDITING = "user:editing"
    TYPING = "user:typing"
    NOTIFICATION = "notification"
    AI_TASK_STARTED = "ai:task:started"
    AI_TASK_PROGRESS = "ai:task:progress"
    AI_TASK_COMPLETED = "ai:task:completed"
    AI_TASK_FAILED = "ai:task:failed"
    AI_TASK_CANCELLED = "ai:task:cancelled"


AI_TASK_TERMINAL_EVENTS: frozenset[str] = frozenset(
    {ServerEvent.AI_TASK_COMPLETED, ServerEvent.AI_TASK_FAILED, ServerEvent.AI_TASK_CANCELLED}
)
AI_TASK_EVENTS: frozenset[str] = AI_TASK_TERMINAL_EVENTS | {
    ServerEvent.AI_TASK_STARTED,
    ServerEvent.AI_TASK_PROGRESS,
}

# Record-room events: no stream, no seq, never replayed (SPEC §10).
EPHEMERAL_EVENTS: frozenset[str] = frozenset(
    {ServerEvent.VIEWING, ServerEvent.EDITING, ServerEvent.TYPING}
)


def stream_kinds() -> tuple[str, ...]:
    """A user's three streams are named `{kind}:{id}` (SPEC §7)."""
    return ("broker", "team", "user")
