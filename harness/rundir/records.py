"""The run directory's contract: one record type per CSV, its column order its field order.

`crm-harness load --report DIR` writes one row per record (deliveries.csv, actions.csv,
users.csv, streams.csv, anomalies.csv, generator.csv); the reports, `summary.json` and any
tool of a user's read them back. Standard library and `harness.spec` only: the load engine's
Locust processes import it without pandas.

Columns added after the first release (those with defaults, and some of users.csv's and
anomalies.csv's) may be absent from older files: the reader fills them in empty.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, fields
from typing import ClassVar

from harness.spec import Op
from harness.stream_accountant import AnomalyKind  # anomalies.csv `kind`: one vocabulary

__all__ = [
    "CHANGE_OPS",
    "GENERATOR_CPU_KEY",
    "RECORD_TYPES",
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
    "Record",
    "StreamRecord",
    "Transport",
    "UserRecord",
    "columns",
]

# actions.csv `op`s that change a record and therefore emit one data event (SPEC §5).
CHANGE_OPS: frozenset[str] = frozenset(op.value for op in Op)


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
    NO_TOKEN = "NO_TOKEN"  # the token source (e.g. --token-cmd) failed: nothing was sent
    # A REST call's connection was refused, reset or closed before an answer came (e.g. a
    # keep-alive connection the server closed as the request was sent on it).
    CONNECTION_LOST = "CONNECTION_LOST"


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

    @property
    def fanout_ms(self) -> float:
        """Server timestamp → receive (two clocks); NaN when the event had no timestamp."""
        return (self.t_recv - self.server_ts) * 1000


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
    # Sockets still refused SERVER_BUSY (LIM-6) when the user stopped asking: at the run's end,
    # having come back after every retryAfterMs. Not connect errors: the node shed them.
    refused: int = 0


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
    # 0: the closing sync could not be made (refused, timed out): nothing was replayed and
    # `head` is the highest seq held, so `missing_final` is only the holes below it.
    synced: int = 1


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
# run.json: CPU-seconds the kernel counted for every generator process of the run (user + system).
GENERATOR_CPU_KEY = "generator_cpu_s"


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
    # The process's CPU-seconds so far (user + system): its cost per delivery at steady state.
    cpu_s: float = float("nan")


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
