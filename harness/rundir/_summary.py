"""summary.json as types: `RunSummary`, its field order the file's key order.

The load engine writes `RunSummary.to_json()`; the reports, the gates, compare and sweep read
`RunSummary.from_json(...)` of whatever summary.json a run directory holds, which may come
from an older engine or another tool: reading is lenient, a value that is absent or of the
wrong type is None (not measured; a gate on it fails as `missing`).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ._latency import Percentiles
from ._write_path import WriteFigures

__all__ = [
    "AiTasks",
    "BytesPerUpdate",
    "ChangeCounts",
    "ClusterView",
    "DeliveryCounts",
    "Flood",
    "GeneratorHealth",
    "LagWindow",
    "Latency",
    "Loss",
    "NodeRunFigures",
    "RunSummary",
    "ScopeFigures",
    "SteadyState",
]

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class ChangeCounts:
    sent: int | None = None  # change actions attempted
    ok: int | None = None  # acknowledged


@dataclass(frozen=True, slots=True)
class DeliveryCounts:
    expected: int | None = None  # seqs the sockets owed between joining and the closing sync
    received: int | None = None  # of those, held after the closing sync
    received_live: int | None = None  # distinct (socket, stream, seq) received live
    rows: int | None = None  # deliveries.csv rows, replays and copies included
    replayed: int | None = None
    expected_by_audience: int | None = None  # sockets in the audience of each change (EVT-1)
    received_live_by_node: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Loss:
    live: int | None = None  # owed seqs never received live
    final: int | None = None  # still missing after the closing sync (STR-5: must be 0)
    # Of `final`: the holes of sockets whose closing sync could not be made (refused by a busy
    # node, timed out), judged without a replay; and how many sockets that was.
    final_unsynced: int | None = None
    unsynced_sockets: int | None = None


@dataclass(frozen=True, slots=True)
class Latency:
    """e2e: actor's send → recipient's receive; fanout: server timestamp → recipient's receive;
    refetch_e2e: change → the refetched list (refetch_baseline)."""

    e2e: Percentiles = field(default_factory=Percentiles)
    fanout: Percentiles = field(default_factory=Percentiles)
    refetch_e2e: Percentiles = field(default_factory=Percentiles)


@dataclass(frozen=True, slots=True)
class ScopeFigures:
    received: int | None = None
    e2e_ms: Percentiles = field(default_factory=Percentiles)


@dataclass(frozen=True, slots=True)
class SteadyState:
    """From the last user's join to the last action sent: full load, no ramp."""

    seconds: float | None = None
    changes_per_s: float | None = None
    deliveries_per_s: float | None = None
    e2e_ms: Percentiles = field(default_factory=Percentiles)
    fanout_ms: Percentiles = field(default_factory=Percentiles)


@dataclass(frozen=True, slots=True)
class BytesPerUpdate:
    median: float | None = None  # wire bytes of a live `*:updated` event
    refetch_median: float | None = None  # response bytes of a full-list refetch


@dataclass(frozen=True, slots=True)
class Flood:
    sent: int | None = None
    rate_limited: int | None = None
    acks_lost_to_disconnect: int | None = None
    disconnects: int | None = None


@dataclass(frozen=True, slots=True)
class AiTasks:
    """AI tasks (§11); one count per terminal event of `AI_TASK_TERMINAL_EVENTS`."""

    requested: int | None = None
    cancelled: int | None = None
    completed: int | None = None
    failed: int | None = None
    completion_ms: Percentiles = field(default_factory=Percentiles)


@dataclass(frozen=True, slots=True)
class LagWindow:
    """Seconds since the start in which one worker's event loop lagged over the threshold;
    the live deliveries it received then carry the generator's own delay."""

    worker: str | None = None
    start_s: float | None = None
    end_s: float | None = None
    max_lag_ms: float | None = None
    deliveries: int | None = None


@dataclass(frozen=True, slots=True)
class GeneratorHealth:
    """The load generator's own health and cost; a run without samples has only `saturated`.

    `cpu_us_per_delivery`: CPU per delivery at steady state (heartbeats, actions included);
    `cpu_ms_per_user`: the fixed part per simulated user (start, connect, closing sync);
    `cpu_s`: the whole generator's CPU-seconds (see `harness.rundir._generator`).
    """

    cpu_percent_max: float | None = None
    cpu_percent_mean: float | None = None
    loop_lag_ms_max: float | None = None
    stalls: int | None = None
    rss_mb_max: float | None = None
    memory_per_user_kb: float | None = None
    connected_users_max: int | None = None
    saturated: bool | None = None
    cpu_s: float | None = None
    cpu_us_per_delivery: float | None = None
    cpu_ms_per_user: float | None = None
    deliveries_per_core_s: float | None = None
    lag_threshold_ms: float | None = None
    lag_window_s: float | None = None
    lagged_deliveries: int | None = None
    lag_windows: list[LagWindow] = field(default_factory=list)

    @property
    def sampled(self) -> bool:
        return self.connected_users_max is not None

    def to_json(self) -> dict[str, Any]:
        if not self.sampled:
            return {"cpu_percent_max": None, "loop_lag_ms_max": None, "saturated": self.saturated}
        return _to_json(self)


@dataclass(frozen=True, slots=True)
class NodeRunFigures:
    """One node of the target during the run (or the sum over the nodes). `sockets` and
    `deliveries` are the generator's (sockets it opened there, events they received live);
    the others the node's own `/metrics`: `connections_max` the peak of its gauge as sampled
    during the run, `events_emitted` and `refusals` (rate-limited and busy) their increase.
    None: not measured (the node does not expose it, or an older run)."""

    sockets: int | None = None
    connections_max: int | None = None
    events_emitted: int | None = None
    deliveries: int | None = None
    refusals: int | None = None


@dataclass(frozen=True, slots=True)
class ClusterView:
    """Every node of the target by URL, side by side with their sum (`sum.connections_max`:
    the peak of the nodes' gauges summed at each sampling, not the sum of their peaks)."""

    nodes: dict[str, NodeRunFigures] = field(default_factory=dict)
    sum: NodeRunFigures = field(default_factory=NodeRunFigures)


@dataclass(frozen=True, slots=True)
class RunSummary:
    scenario: str | None = None
    users: int | None = None
    duration_s: float | None = None
    actions: int | None = None
    changes: ChangeCounts = field(default_factory=ChangeCounts)
    changes_per_s: float | None = None
    deliveries: DeliveryCounts = field(default_factory=DeliveryCounts)
    deliveries_per_s: float | None = None
    mb_per_s: float | None = None
    loss: Loss = field(default_factory=Loss)
    duplicates: int | None = None  # live copies of a (socket, stream, seq)
    out_of_order: int | None = None  # live deliveries below their socket's highest seq so far
    isolation_leaks: int | None = None
    redaction_leaks: int | None = None
    gaps_seen: int | None = None  # gap anomalies the sockets logged as they happened
    seq_conflicts: int | None = None  # (stream, seq) reaching sockets as different events
    resets: int | None = None
    # sampled deliveries (1 in harness.load.tracker.VALIDATE_EVERY) that broke their schema
    schema_violations: int | None = None
    latency_ms: Latency = field(default_factory=Latency)
    per_scope: dict[str, ScopeFigures] = field(default_factory=dict)
    # REST and `mutate` changes: ack latency and errors by code, per op (issue 15)
    write_path: dict[str, WriteFigures] = field(default_factory=dict)
    steady_state: SteadyState | None = None
    bytes_per_update: BytesPerUpdate = field(default_factory=BytesPerUpdate)
    connect_errors: int | None = None  # sockets that failed to connect, refused busy not included
    connect_error_reasons: dict[str, int] = field(default_factory=dict)
    # LIM-6: users turned away by a busy node for the whole run (no socket; they owe nothing),
    # and every CONNECT_ERROR refusal by its code, each retry after retryAfterMs included.
    refused_users: int | None = None
    connect_refusals: dict[str, int] = field(default_factory=dict)
    reconnects: int | None = None
    reconnect_ms: Percentiles = field(default_factory=Percentiles)
    disconnects: int | None = None
    flood: Flood = field(default_factory=Flood)
    ai_tasks: AiTasks = field(default_factory=AiTasks)
    generator: GeneratorHealth = field(default_factory=GeneratorHealth)
    cluster: ClusterView = field(default_factory=ClusterView)
    passed: bool | None = None  # no leak, no final loss, no duplicate, no seq conflict
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """summary.json's content (plain JSON types, keys in field order)."""
        return _to_json(self)

    @classmethod
    def from_json(cls, data: object) -> RunSummary:
        return _from_json(cls, data)


# -- JSON <-> types ------------------------------------------------------------------------------


def _value_to_json(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _value_to_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_value_to_json(item) for item in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        own = getattr(value, "to_json", None)
        return own() if own is not None else _to_json(value)
    return value


def _to_json(obj: Any) -> dict[str, Any]:
    return {f.name: _value_to_json(getattr(obj, f.name)) for f in dataclasses.fields(obj)}


def _from_json(cls: type[_T], data: object) -> _T:
    """A dataclass from a JSON object, leniently: what is absent or mistyped is None (or
    the field's empty default)."""
    if not isinstance(data, dict):
        data = {}
    hints = typing.get_type_hints(cls)
    values = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name in data:
            values[f.name] = _convert(hints[f.name], data[f.name])
    return cls(**values)


def _convert(hint: Any, value: Any) -> Any:
    args = typing.get_args(hint)
    if isinstance(hint, types.UnionType):  # X | None
        if value is None:
            return None
        return _convert(next(a for a in args if a is not type(None)), value)
    origin = typing.get_origin(hint)
    if origin is dict:
        if not isinstance(value, dict):
            return {}
        converted = {str(k): _convert(args[1], v) for k, v in value.items()}
        return {k: v for k, v in converted.items() if v is not None}
    if origin is list:
        return [_convert(args[0], v) for v in value] if isinstance(value, list) else []
    if hint is Percentiles:
        return Percentiles.from_json(value)
    if dataclasses.is_dataclass(hint):
        return _from_json(hint, value)  # type: ignore[arg-type]
    return _scalar(hint, value)


def _scalar(hint: type, value: Any) -> Any:
    if hint is str:
        return value if isinstance(value, str) else None
    if hint is bool:
        return value if isinstance(value, bool) else None
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        return None  # not a number, or NaN: not measured
    if hint is int:
        return int(value) if float(value).is_integer() else None
    return float(value)
