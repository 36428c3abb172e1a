"""The spec in machine-readable form: the one source of truth for server, suite and load.

Everything here is derived from `SPEC.md` version 1.1; `tests/test_spec_module.py` checks that
the requirement table still matches the spec text.
"""

from __future__ import annotations

from ._entities import (
    COLLECTIONS,
    ENTITY_TYPES,
    FIELDS,
    MAX_CUSTOM_FIELDS_BYTES,
    MAX_TAG_LENGTH,
    MAX_TAGS,
    READ_ONLY_FIELDS,
    REDACTED,
    SENSITIVE_FIELDS,
    VISIBILITIES,
    Action,
    EntityType,
    FieldKind,
    FieldSpec,
    Op,
)
from ._errors import AUTH_MESSAGES, HTTP_STATUS, SOCKET_ONLY_CODES, ErrorCode
from ._events import (
    AI_TASK_EVENTS,
    AI_TASK_TERMINAL_EVENTS,
    CLIENT_EVENTS,
    DATA_EVENTS,
    EPHEMERAL_EVENTS,
    ClientEvent,
    ServerEvent,
    data_event_name,
    stream_kinds,
)
from ._limits import Heartbeat, Limits
from ._model import Level, Profile, Requirement
from ._paths import PATHS, SCOPES
from ._payloads import (
    CLIENT_EVENT_CONTRACTS,
    ERROR_ACK,
    REST_ERROR,
    ROUTES,
    SERVER_EVENT_PAYLOADS,
    ClientEventContract,
    Param,
    Payload,
    Route,
    match_route,
)
from ._requirements import REQUIREMENTS
from ._schemas import COMPONENTS_PREFIX, Schema, component_schemas, entity_schema_name, ref

SPEC_VERSION = "1.1"
# A 1.0 server (HS256 only, no `auth` in its info document, no LIM-6) stays conformant (§16).
SUPPORTED_SPEC_VERSIONS: tuple[str, ...] = ("1.0", "1.1")
# Info `auth.algorithms` when a server does not advertise it (§3).
DEFAULT_AUTH_ALGORITHMS: tuple[str, ...] = ("HS256",)
INFO_PATH = "/api/v1/realtime/info"
HEALTH_PATH = "/healthz"
METRICS_PATH = "/metrics"
SOCKETIO_PATH = "/socket.io/"
API_PREFIX = "/api/v1"
ACTIVITY_PATH = f"{API_PREFIX}/activity"  # COL-8
AI_TASKS_PATH = f"{API_PREFIX}/ai/tasks"  # AI-1, AI-5, AI-7
FLOOD_WINDOW_SECONDS = 10  # LIM-2
REFRESH_GRACE_SECONDS = 2  # AUTH-3, LIM-3: "within 2 s"

METRIC_NAMES: tuple[str, ...] = (
    "crm_realtime_connections",
    "crm_realtime_events_emitted_total",
    "crm_realtime_events_received_total",
    "crm_realtime_rate_limited_total",
    "crm_realtime_replayed_events_total",
)


def requirements_for(*profiles: Profile | str) -> list[Requirement]:
    wanted = {Profile(p) for p in profiles}
    return [r for r in REQUIREMENTS.values() if r.profile in wanted]


__all__ = [
    "ACTIVITY_PATH",
    "AI_TASKS_PATH",
    "AI_TASK_EVENTS",
    "AI_TASK_TERMINAL_EVENTS",
    "API_PREFIX",
    "AUTH_MESSAGES",
    "CLIENT_EVENTS",
    "CLIENT_EVENT_CONTRACTS",
    "COLLECTIONS",
    "COMPONENTS_PREFIX",
    "DATA_EVENTS",
    "DEFAULT_AUTH_ALGORITHMS",
    "ENTITY_TYPES",
    "EPHEMERAL_EVENTS",
    "ERROR_ACK",
    "FIELDS",
    "FLOOD_WINDOW_SECONDS",
    "HEALTH_PATH",
    "HTTP_STATUS",
    "INFO_PATH",
    "MAX_CUSTOM_FIELDS_BYTES",
    "MAX_TAGS",
    "MAX_TAG_LENGTH",
    "METRICS_PATH",
    "METRIC_NAMES",
    "PATHS",
    "READ_ONLY_FIELDS",
    "REDACTED",
    "REFRESH_GRACE_SECONDS",
    "REQUIREMENTS",
    "REST_ERROR",
    "ROUTES",
    "SCOPES",
    "SENSITIVE_FIELDS",
    "SERVER_EVENT_PAYLOADS",
    "SOCKETIO_PATH",
    "SOCKET_ONLY_CODES",
    "SPEC_VERSION",
    "SUPPORTED_SPEC_VERSIONS",
    "VISIBILITIES",
    "Action",
    "ClientEvent",
    "ClientEventContract",
    "EntityType",
    "ErrorCode",
    "FieldKind",
    "FieldSpec",
    "Heartbeat",
    "Level",
    "Limits",
    "Op",
    "Param",
    "Payload",
    "Profile",
    "Requirement",
    "Route",
    "Schema",
    "ServerEvent",
    "component_schemas",
    "data_event_name",
    "entity_schema_name",
    "match_route",
    "ref",
    "requirements_for",
    "stream_kinds",
]
