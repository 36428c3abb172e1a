"""Listeners on the measurement hook: CSV part files per worker, and running counters.

Each worker process writes `parts/<file>.w<worker>.csv` in the run directory; `merge_parts`
joins them into the contract's `<file>.csv` once every process has finished. Workers on
other machines need the run directory on a shared path (or their parts copied in) before
merging.
"""

from __future__ import annotations

import csv
import operator
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from harness.spec import ErrorCode

from .measure import (
    CHANGE_OPS,
    RECORD_TYPES,
    ActionRecord,
    AnomalyKind,
    AnomalyRecord,
    DeliveryRecord,
    GeneratorSample,
    Record,
    StreamRecord,
    UserRecord,
    columns,
)

__all__ = ["RECENT_WINDOW_S", "Counters", "CsvRecorder", "merge_parts"]

PARTS_DIR = "parts"


class CsvRecorder:
    """Appends every record to its part file; flushes on `close` (and every ~2 s)."""

    def __init__(self, run_dir: Path, worker: int) -> None:
        self.parts = run_dir / PARTS_DIR
        self.parts.mkdir(parents=True, exist_ok=True)
        self.worker = worker
        self._files: dict[str, tuple[IO[str], Any]] = {}
        # Per record type: its file's row writer and a getter of its fields in column order
        # (dataclasses.astuple deep-copies every value: a third of a delivery's recording).
        self._rows: dict[type, tuple[Callable[[Any], Any], Callable[[Any], Any]]] = {}
        self._last_flush = time.monotonic()

    def _open(self, record_type: type) -> tuple[Callable[[Any], Any], Callable[[Any], Any]]:
        name: str = record_type.file  # type: ignore[attr-defined]
        handle = open(self.parts / f"{name}.w{self.worker}.csv", "w", newline="")  # noqa: SIM115
        writer = csv.writer(handle)
        names = columns(record_type)
        writer.writerow(names)
        self._files[name] = (handle, writer)
        entry = (writer.writerow, operator.attrgetter(*names))
        self._rows[record_type] = entry
        return entry

    def __call__(self, record: Record) -> None:
        entry = self._rows.get(type(record)) or self._open(type(record))
        entry[0](entry[1](record))
        now = time.monotonic()
        if now - self._last_flush > 2.0:
            self._last_flush = now
            for handle, _ in self._files.values():
                handle.flush()

    def close(self) -> None:
        for handle, _ in self._files.values():
            handle.close()
        self._files.clear()
        self._rows.clear()


@dataclass(slots=True)
class Counters:
    """What live progress and generator samples need, kept as the records go by."""

    deliveries: int = 0
    changes_sent: int = 0
    changes_ok: int = 0
    gaps: int = 0
    leaks: int = 0
    duplicates: int = 0
    connected_users: int = 0
    connect_errors: int = 0
    busy_refusals: int = 0  # SERVER_BUSY answers to connects (LIM-6), retries included
    final_synced: int = 0
    final_missing: int = 0
    # (receive time, e2e ms) of recent deliveries of this process's own acknowledged changes
    recent_e2e: deque[tuple[float, float]] = field(default_factory=lambda: deque(maxlen=2000))
    # (entity_id, version) -> t_send of this process's own changes, for live e2e estimates
    sent_at: dict[tuple[str, int], float] = field(default_factory=dict)
    # (receive time, fan-out ms: server timestamp → receive) of recent live deliveries
    recent_fanout: deque[tuple[float, float]] = field(default_factory=lambda: deque(maxlen=2000))
    cpu_percent: float | None = None  # this process, at the last health sample

    def __call__(self, record: Record) -> None:
        # One dict lookup by exact type instead of an isinstance chain: deliveries are most of
        # the records and came first already, but every record paid the call overhead (issue 13).
        handler = _COUNTERS_BY_TYPE.get(type(record))
        if handler is not None:
            handler(self, record)

    def _delivery(self, record: DeliveryRecord) -> None:
        self.deliveries += 1
        if not record.replayed:
            t_recv = record.t_recv
            fanout = record.fanout_ms
            if fanout == fanout:  # NaN: no server timestamp
                self.recent_fanout.append((t_recv, fanout))
            t_send = self.sent_at.get((record.entity_id, record.version))
            if t_send is not None:
                self.recent_e2e.append((t_recv, (t_recv - t_send) * 1000))

    def _action(self, record: ActionRecord) -> None:
        if record.op in CHANGE_OPS:
            self.changes_sent += 1
            if record.ok:
                self.changes_ok += 1
                self.sent_at[(record.entity_id, record.version)] = record.t_send
                if len(self.sent_at) > _SENT_AT_MAX:
                    # Live progress only needs recent changes; drop the oldest half
                    # (dicts keep insertion order) so that long runs stay flat in memory.
                    for key in list(self.sent_at)[: _SENT_AT_MAX // 2]:
                        del self.sent_at[key]

    def _anomaly(self, record: AnomalyRecord) -> None:
        if record.kind == AnomalyKind.GAP:
            self.gaps += 1
        elif record.kind == AnomalyKind.DUPLICATE:
            self.duplicates += 1
        elif record.kind in _LEAKS:
            self.leaks += 1
        elif record.kind == AnomalyKind.CONNECT_REFUSED and record.detail == _BUSY:
            self.busy_refusals += 1

    def _user(self, record: UserRecord) -> None:
        self.connect_errors += record.connect_errors

    def _stream(self, record: StreamRecord) -> None:
        self.final_missing += record.missing_final

    def _sample(self, record: GeneratorSample) -> None:
        self.cpu_percent = record.cpu_percent

    def snapshot(self, windows: bool = True) -> dict[str, Any]:
        """The counters; with `windows`, the recent e2e and fan-out values too (a scan of
        up to 4,000 entries: live progress asks for them only when it prints)."""
        now = time.time()
        snap: dict[str, Any] = {
            "deliveries": self.deliveries,
            "changes_sent": self.changes_sent,
            "changes_ok": self.changes_ok,
            "gaps": self.gaps,
            "leaks": self.leaks,
            "duplicates": self.duplicates,
            "connected_users": self.connected_users,
            "connect_errors": self.connect_errors,
            "busy_refusals": self.busy_refusals,
            "final_synced": self.final_synced,
            "final_missing": self.final_missing,
            "cpu_percent": self.cpu_percent,
        }
        if windows:
            # Only the last window: an old tail must not stand in for "now" when acks stall.
            snap["recent_e2e_ms"] = _window(self.recent_e2e, now)
            snap["recent_fanout_ms"] = _window(self.recent_fanout, now)
        return snap


_BUSY = ErrorCode.SERVER_BUSY.value
_COUNTERS_BY_TYPE: dict[type, Callable[[Counters, Any], None]] = {
    DeliveryRecord: Counters._delivery,
    ActionRecord: Counters._action,
    AnomalyRecord: Counters._anomaly,
    UserRecord: Counters._user,
    StreamRecord: Counters._stream,
    GeneratorSample: Counters._sample,
}


def _window(values: deque[tuple[float, float]], now: float) -> list[float]:
    return [ms for t, ms in values if t > now - RECENT_WINDOW_S][-_WINDOW_VALUES:]


_LEAKS = frozenset({AnomalyKind.ISOLATION_LEAK, AnomalyKind.REDACTION_LEAK})
_SENT_AT_MAX = 50_000
RECENT_WINDOW_S = 10.0  # what live progress and the live endpoint call "recent"
_WINDOW_VALUES = 300  # per process and report: the master's percentiles stay cheap


def merge_parts(run_dir: Path) -> dict[str, int]:
    """Concatenate every worker's part files into `<file>.csv`; rows written per file.

    The parts are csv.writer's output already: copied as bytes after their header, not parsed
    and written again row by row (per delivery, that was the second biggest cost of the
    controlling process). A part cut short by a killed process gets its last line ended.
    """
    parts = run_dir / PARTS_DIR
    written: dict[str, int] = {}
    for record_type in RECORD_TYPES:
        name: str = record_type.file  # type: ignore[attr-defined]
        rows = 0
        with open(run_dir / f"{name}.csv", "w", newline="") as out:
            csv.writer(out).writerow(columns(record_type))
        with open(run_dir / f"{name}.csv", "ab") as sink:
            for part in sorted(parts.glob(f"{name}.w*.csv")) if parts.exists() else []:
                with open(part, "rb") as handle:
                    handle.readline()
                    tail = b""
                    while chunk := handle.read(_COPY_CHUNK):
                        sink.write(chunk)
                        rows += chunk.count(b"\n")  # a quoted newline in a detail counts too
                        tail = chunk
                    if tail and not tail.endswith(b"\n"):
                        sink.write(_ROW_END)
                        rows += 1
        written[name] = rows
    return written


_COPY_CHUNK = 1 << 20
_ROW_END = b"\r\n"  # csv.writer's line terminator
