"""The measurement records and the ONE hook every measurement flows through.

Agents fire `MEASUREMENTS.fire(record)`; listeners (the CSV recorder, live progress, Locust's
own stats) subscribe with `MEASUREMENTS.add_listener`. One hook, so that a new consumer never
needs a change in the code that measures. The column order of each CSV is the field order of
its record class: the run-directory contract the reports code against.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import ClassVar

from harness.stream_accountant import AnomalyKind  # anomalies.csv `kind`: one vocabulary

__all__ = [
    "MEASUREMENTS",
    "SATURATION_CPU_PERCENT",
    "SATURATION_LAG_MS",
    "SATURATION_SECONDS",
    "STALL_LAG_MS",
    "ActionRecord",
    "AnomalyKind",
    "AnomalyRecord",
    "DeliveryRecord",
    "ExtraOp",
    "GeneratorSample",
    "LocalError",
    "MeasurementHook",
    "Record",
    "StreamRecord",
    "Transport",
    "UserRecord",
    "columns",
]


class ExtraOp(enum.StrEnum):
    """actions.csv `op`s besides the change ops (`harness.spec.Op`)."""

    VIEW = "view"
    TYPING = "typing"
    AI_TASK = "ai_task"
    REFETCH = "refetch"
    FLOOD = "flood"
    RECONNECT = "reconnect"


class Transport(enum.StrEnum):
    REST = "rest"
    SOCKET = "socket"


class LocalError(enum.StrEnum):
    """`error_code`s the generator sets when no answer came (not the server's §13 codes)."""

    TIMEOUT = "TIMEOUT"
    DISCONNECTED = "DISCONNECTED"


@dataclass(slots=True)
class DeliveryRecord:
    """One event received by one socket (deliveries.csv)."""

    file: ClassVar[str] = "deliveries"
    receiver: str
    socket: str
    stream: str
    seq: int
    event_id: str
    event: str
    entity_type: str
    entity_id: str
    version: int
    scope: str
    t_recv: float
    server_ts: float
    bytes: int
    replayed: int
    worker: int


@dataclass(slots=True)
class ActionRecord:
    """One action an agent took (actions.csv); `version` is the record's after the change."""

    file: ClassVar[str] = "actions"
    actor: str
    op: str
    transport: str
    entity_type: str
    entity_id: str
    version: int
    scope: str
    t_send: float
    t_ack: float
    ok: int
    error_code: str
    bytes_sent: int
    worker: int
    bytes_received: int = 0  # refetch_baseline: what a full-list refetch costs


@dataclass(slots=True)
class UserRecord:
    """One simulated user (users.csv); `sockets` is how many it opened."""

    file: ClassVar[str] = "users"
    user_id: str
    team_id: str
    broker_id: str
    sockets: int
    connected_at: float
    connect_errors: int
    worker: int


@dataclass(slots=True)
class StreamRecord:
    """Per socket and stream, what the closing sync found (streams.csv).

    `start_seq` is the head when the socket joined (it owes nothing before), `head` the head at
    the closing sync; `missing_live` the seqs in between never received live, `missing_final`
    those still missing after the closing sync replayed what it could.
    """

    file: ClassVar[str] = "streams"
    receiver: str
    socket: str
    stream: str
    start_seq: int
    head: int
    received_live: int
    missing_live: int
    missing_final: int
    reset: int
    worker: int
    node: int = 0  # index of the socket's node in the run's node URLs (multi-node runs)


@dataclass(slots=True)
class AnomalyRecord:
    """Something that must not happen (anomalies.csv); leaks turn a run red."""

    file: ClassVar[str] = "anomalies"
    kind: str
    receiver: str
    stream: str
    seq: int
    event_id: str
    detail: str
    worker: int
    t: float = 0.0  # epoch s when it was seen


# When a generator's own figures stop being trustworthy: CPU or event-loop lag over these for
# SATURATION_SECONDS in a row, or one stall (a sample that woke this late) by itself.
SATURATION_CPU_PERCENT = 90.0
SATURATION_LAG_MS = 50.0
SATURATION_SECONDS = 3
STALL_LAG_MS = 1000.0


@dataclass(slots=True)
class GeneratorSample:
    """One worker's health, once a second (generator.csv)."""

    file: ClassVar[str] = "generator"
    t: float
    worker: int
    cpu_percent: float
    loop_lag_ms: float
    connected_users: int
    rss_mb: float
    changes_sent: int
    deliveries: int


Record = DeliveryRecord | ActionRecord | UserRecord | StreamRecord | AnomalyRecord | GeneratorSample

RECORD_TYPES: tuple[type, ...] = (
    DeliveryRecord,
    ActionRecord,
    UserRecord,
    StreamRecord,
    AnomalyRecord,
    GeneratorSample,
)


def columns(record_type: type) -> list[str]:
    return [f.name for f in fields(record_type)]


class MeasurementHook:
    """A minimal event hook (cf. `locust.event.EventHook`), importable without gevent."""

    def __init__(self) -> None:
        self._listeners: list[Callable[[Record], None]] = []

    def add_listener(self, listener: Callable[[Record], None]) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[Record], None]) -> None:
        self._listeners.remove(listener)

    def fire(self, record: Record) -> None:
        for listener in self._listeners:
            listener(record)


MEASUREMENTS = MeasurementHook()
