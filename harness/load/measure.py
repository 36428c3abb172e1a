"""The ONE hook every measurement flows through, and the records it carries.

Agents fire `MEASUREMENTS.fire(record)`; listeners (the CSV recorder, live progress, Locust's
own stats) subscribe with `MEASUREMENTS.add_listener`. One hook, so that a new consumer never
needs a change in the code that measures. The records are the run directory's contract
(`harness.rundir.records`, re-exported here for the engine's modules): the column order of each
CSV is the field order of its record class.
"""

from __future__ import annotations

from collections.abc import Callable

from harness.rundir.records import (
    CHANGE_OPS,
    RECORD_TYPES,
    SATURATION_CPU_PERCENT,
    SATURATION_LAG_MS,
    SATURATION_SECONDS,
    STALL_LAG_MS,
    ActionRecord,
    AnomalyKind,
    AnomalyRecord,
    DeliveryRecord,
    ExtraOp,
    GeneratorSample,
    LocalError,
    Record,
    StreamRecord,
    Transport,
    UserRecord,
    columns,
)

__all__ = [
    "CHANGE_OPS",
    "MEASUREMENTS",
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
    "MeasurementHook",
    "Record",
    "StreamRecord",
    "Transport",
    "UserRecord",
    "columns",
]


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
