"""Per-stream bookkeeping of durable events (SPEC §7): cursors, reordering, gaps, duplicates.

A client may receive a stream's events out of order (STR-1: order across nodes may differ)
and twice (live and replayed after a reconnect). `StreamTracker` dedupes by `eventId`,
releases events in `seq` order, and says which seqs are still missing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = ["Anomaly", "AnomalyKind", "StreamState", "StreamTracker", "TrackOutcome"]


class TrackOutcome(StrEnum):
    NEW = "new"
    DUPLICATE = "duplicate"  # same eventId seen before: dropped
    CONFLICT = "conflict"  # a seq already held under another eventId: kept as an anomaly
    STALE = "stale"  # seq at or below the base cursor (already held before tracking)
    UNTRACKED = "untracked"  # not a durable event (no stream/seq/eventId)


class AnomalyKind(StrEnum):
    DUPLICATE = "duplicate"
    CONFLICT = "conflict"
    OUT_OF_ORDER = "out-of-order"
    BAD_SEQ = "bad-seq"


@dataclass(frozen=True, slots=True)
class Anomaly:
    kind: AnomalyKind
    stream: str
    seq: int | None
    event_id: str | None
    event: str


@dataclass(slots=True)
class StreamState:
    """One stream: the cursor the client held when tracking began, and what arrived since."""

    base: int = 0
    by_seq: dict[int, tuple[str, Any]] = field(default_factory=dict)  # seq -> (name, payload)
    released: int = 0  # highest seq handed out by `pop_ready`
    highest_seen: int = 0

    @property
    def cursor(self) -> int:
        """The last seq held without a gap: what `sync` should send (STR-2)."""
        seq = max(self.base, self.released)
        while seq + 1 in self.by_seq:
            seq += 1
        return seq

    def gaps(self) -> list[int]:
        top = max(self.highest_seen, self.base)
        return [s for s in range(self.base + 1, top + 1) if s not in self.by_seq]


class StreamTracker:
    """Feed it every received event; it keeps each stream's seqs once, in order."""

    def __init__(self, cursors: Mapping[str, int] | None = None) -> None:
        self._streams: dict[str, StreamState] = {}
        self._event_ids: dict[str, tuple[str, int]] = {}
        self.anomalies: list[Anomaly] = []
        for stream, cursor in (cursors or {}).items():
            self.set_base(stream, cursor)

    def set_base(self, stream: str, cursor: int) -> None:
        """Declare that the client already holds `stream` up to `cursor` (e.g. a sync head)."""
        state = self._streams.setdefault(stream, StreamState())
        state.base = max(state.base, cursor)
        state.released = max(state.released, state.base)
        state.highest_seen = max(state.highest_seen, state.base)

    def add(self, name: str, payload: Any) -> TrackOutcome:
        if not isinstance(payload, Mapping):
            return TrackOutcome.UNTRACKED
        stream, seq, event_id = payload.get("stream"), payload.get("seq"), payload.get("eventId")
        if not isinstance(stream, str) or event_id is None or "seq" not in payload:
            return TrackOutcome.UNTRACKED
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
            self.anomalies.append(Anomaly(AnomalyKind.BAD_SEQ, stream, None, str(event_id), name))
            return TrackOutcome.UNTRACKED
        event_id = str(event_id)
        if event_id in self._event_ids:
            self.anomalies.append(Anomaly(AnomalyKind.DUPLICATE, stream, seq, event_id, name))
            return TrackOutcome.DUPLICATE
        self._event_ids[event_id] = (stream, seq)
        state = self._streams.setdefault(stream, StreamState())
        if seq <= state.base:
            return TrackOutcome.STALE
        if seq in state.by_seq:
            self.anomalies.append(Anomaly(AnomalyKind.CONFLICT, stream, seq, event_id, name))
            return TrackOutcome.CONFLICT
        if seq < state.highest_seen:
            self.anomalies.append(Anomaly(AnomalyKind.OUT_OF_ORDER, stream, seq, event_id, name))
        state.by_seq[seq] = (name, payload)
        state.highest_seen = max(state.highest_seen, seq)
        return TrackOutcome.NEW

    def add_all(self, events: Iterable[tuple[str, Any]]) -> None:
        for name, payload in events:
            self.add(name, payload)

    @property
    def streams(self) -> tuple[str, ...]:
        return tuple(self._streams)

    def state(self, stream: str) -> StreamState:
        return self._streams.setdefault(stream, StreamState())

    def cursors(self) -> dict[str, int]:
        return {stream: state.cursor for stream, state in self._streams.items()}

    def cursor(self, stream: str) -> int:
        return self.state(stream).cursor

    def gaps(self, stream: str | None = None) -> dict[str, list[int]]:
        names = [stream] if stream is not None else list(self._streams)
        found = {name: self.state(name).gaps() for name in names}
        return {name: missing for name, missing in found.items() if missing}

    def seqs(self, stream: str) -> list[int]:
        return sorted(self.state(stream).by_seq)

    def ordered(self, stream: str) -> list[tuple[str, Any]]:
        """Every held event of the stream, by seq."""
        state = self.state(stream)
        return [state.by_seq[s] for s in sorted(state.by_seq)]

    def pop_ready(self, stream: str) -> list[tuple[str, Any]]:
        """Events that can now be applied in order: the gapless run after the last release."""
        state = self.state(stream)
        ready: list[tuple[str, Any]] = []
        while state.released + 1 in state.by_seq:
            state.released += 1
            ready.append(state.by_seq[state.released])
        return ready

    def duplicates(self) -> list[Anomaly]:
        return [a for a in self.anomalies if a.kind is AnomalyKind.DUPLICATE]
