"""The client's view of its durable events (SPEC §7): the events themselves, in seq order.

A client may receive a stream's events out of order (STR-1: order across nodes may differ)
and twice (live and replayed after a reconnect). The accounting (dedupe by `eventId`, gaps,
cursors) is `harness.stream_accountant`'s; `StreamTracker` feeds it every event, keeps the
payloads it accepted, hands them out in `seq` order and records the anomalies a conformance
check judges: duplicates, conflicts, out-of-order arrivals, bad seqs. Gaps are not recorded
as they happen (a later event may fill them); `gaps()` says what is still missing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..stream_accountant import ANOMALY_OF, AnomalyKind, Arrival, StreamAccountant, StreamLedger

__all__ = ["Anomaly", "StreamTracker"]

# Arrivals whose event the tracker keeps, and those it records as an anomaly.
_KEPT = frozenset({Arrival.IN_ORDER, Arrival.AFTER_GAP, Arrival.LATE})
_RECORDED = frozenset({Arrival.DUPLICATE, Arrival.CONFLICT, Arrival.LATE})


@dataclass(frozen=True, slots=True)
class Anomaly:
    kind: AnomalyKind
    stream: str
    seq: int | None
    event_id: str | None
    event: str


class StreamTracker:
    """Feed it every received event; it keeps each stream's events once, in order."""

    def __init__(self, cursors: Mapping[str, int] | None = None) -> None:
        self.accountant = StreamAccountant(cursors=cursors, remember_ids=True)
        self._events: dict[str, dict[int, tuple[str, Any]]] = {}  # stream -> seq -> event
        self._released: dict[str, int] = {}  # stream -> highest seq handed out by pop_ready
        self.anomalies: list[Anomaly] = []

    def set_base(self, stream: str, cursor: int) -> None:
        """Declare that the client already holds `stream` up to `cursor` (e.g. a sync head)."""
        self.accountant.set_base(stream, cursor)

    def add(self, name: str, payload: Any) -> Arrival | None:
        """Account for one received event; None when it is not durable (no stream/seq/eventId)
        or its seq is not an integer ≥ 1 (a BAD_SEQ anomaly)."""
        if not isinstance(payload, Mapping):
            return None
        stream, seq, event_id = payload.get("stream"), payload.get("seq"), payload.get("eventId")
        if not isinstance(stream, str) or event_id is None or "seq" not in payload:
            return None
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
            self.anomalies.append(Anomaly(AnomalyKind.BAD_SEQ, stream, None, str(event_id), name))
            return None
        arrival = self.accountant.feed(stream, seq, str(event_id))
        if arrival in _RECORDED:
            self.anomalies.append(Anomaly(ANOMALY_OF[arrival], stream, seq, str(event_id), name))
        if arrival in _KEPT:
            self._events.setdefault(stream, {})[seq] = (name, payload)
        return arrival

    def add_all(self, events: Iterable[tuple[str, Any]]) -> None:
        for name, payload in events:
            self.add(name, payload)

    @property
    def streams(self) -> tuple[str, ...]:
        return self.accountant.streams

    def state(self, stream: str) -> StreamLedger:
        return self.accountant.ledger(stream)

    def cursors(self) -> dict[str, int]:
        return self.accountant.cursors()

    def cursor(self, stream: str) -> int:
        return self.state(stream).cursor

    def gaps(self, stream: str | None = None) -> dict[str, list[int]]:
        if stream is None:
            return self.accountant.gaps()
        missing = self.state(stream).gaps()
        return {stream: missing} if missing else {}

    def seqs(self, stream: str) -> list[int]:
        return self.state(stream).held()

    def ordered(self, stream: str) -> list[tuple[str, Any]]:
        """Every held event of the stream, by seq."""
        events = self._events.get(stream, {})
        return [events[s] for s in sorted(events)]

    def pop_ready(self, stream: str) -> list[tuple[str, Any]]:
        """Events that can now be applied in order: the gapless run after the last release."""
        events = self._events.get(stream, {})
        released = max(self._released.get(stream, 0), self.state(stream).base)
        ready: list[tuple[str, Any]] = []
        while released + 1 in events:
            released += 1
            ready.append(events[released])
        self._released[stream] = released
        return ready

    def duplicates(self) -> list[Anomaly]:
        return [a for a in self.anomalies if a.kind is AnomalyKind.DUPLICATE]
