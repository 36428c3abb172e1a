"""Per-socket stream bookkeeping: what arrived, what is missing, what must never arrive.

A socket owes exactly the seqs of its user's three streams above the head it saw when it
joined (STR-1). Every durable event becomes a `DeliveryRecord`; a seq seen twice, below the
highest seen, or skipping ahead becomes an `AnomalyRecord`, as does an event from a foreign
stream (EVT-1) or a true sensitive value at a non-owner (RED-1).
"""

from __future__ import annotations

import time
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from harness.spec import DATA_EVENTS, REDACTED, SENSITIVE_FIELDS

from .measure import MEASUREMENTS, AnomalyKind, AnomalyRecord, DeliveryRecord, StreamRecord

__all__ = ["SocketTracker", "StreamState", "parse_wire_time"]

_DATA_EVENTS = frozenset(DATA_EVENTS)


def parse_wire_time(value: Any) -> float:
    """TRN-4 timestamp to epoch seconds; NaN when absent or malformed (a finding, not a crash)."""
    try:
        return datetime.fromisoformat(value).timestamp()
    except (TypeError, ValueError):
        return float("nan")


@dataclass(slots=True)
class StreamState:
    start_seq: int = 0
    max_seq: int = 0
    cursor_sent: int = 0  # during a sync: the cursor it named; a replay at or below is wrong
    live: set[int] = field(default_factory=set)
    replayed: set[int] = field(default_factory=set)

    def contiguous(self) -> int:
        """The cursor to sync with: the last seq held with none missing before it (STR-2)."""
        cursor = self.start_seq
        while cursor + 1 in self.live or cursor + 1 in self.replayed:
            cursor += 1
        return cursor


class SocketTracker:
    """Owned by one socket; `owners` maps entity id → owner user id, shared per process."""

    __slots__ = ("node", "owners", "receiver", "replaying", "socket_id", "streams", "worker")

    def __init__(
        self,
        receiver: str,
        socket_id: str,
        my_streams: tuple[str, ...],
        owners: MutableMapping[str, str],
        worker: int,
        node: int = 0,
    ) -> None:
        self.receiver = receiver
        self.node = node
        self.socket_id = socket_id
        self.streams: dict[str, StreamState] = {s: StreamState() for s in my_streams}
        self.owners = owners
        self.worker = worker
        self.replaying = False

    def start_at(self, heads: dict[str, int]) -> None:
        """Heads from the joining sync: the socket owes only what comes after them."""
        for name, state in self.streams.items():
            head = int(heads.get(name, 0))
            state.start_seq = head
            state.max_seq = max(state.max_seq, head)

    def cursors(self) -> dict[str, int]:
        """Cursors for a sync; remembered so that replays below them count as duplicates."""
        out = {}
        for name, state in self.streams.items():
            state.cursor_sent = out[name] = state.contiguous()
        return out

    def _anomaly(self, kind: str, stream: str, seq: int, event_id: str, detail: str) -> None:
        MEASUREMENTS.fire(
            AnomalyRecord(
                kind, self.receiver, stream, seq, event_id, detail, self.worker, time.time()
            )
        )

    def on_event(
        self, name: str, payload: Any, t_recv: float, nbytes: int
    ) -> DeliveryRecord | None:
        """Account for one server event; returns its delivery record when it is durable."""
        if not isinstance(payload, dict):
            return None
        stream, seq = payload.get("stream"), payload.get("seq")
        if not isinstance(stream, str) or not isinstance(seq, int):
            return None  # ephemeral (§10) or session events
        event_id = str(payload.get("eventId", ""))
        state = self.streams.get(stream)
        if state is None:
            self._anomaly(AnomalyKind.ISOLATION_LEAK, stream, seq, event_id, f"{name} delivered")
        else:
            self._account(state, stream, seq, event_id)
        entity_type = str(payload.get("entityType") or "")
        # AI task events (§11) carry a taskId instead: it joins them to the `ai_task` action.
        entity_id = str(payload.get("entityId") or payload.get("taskId") or "")
        if name in _DATA_EVENTS:
            self._check_redaction(payload, entity_type, entity_id, stream, seq, event_id)
        record = DeliveryRecord(
            receiver=self.receiver,
            socket=self.socket_id,
            stream=stream,
            seq=seq,
            event_id=event_id,
            event=name,
            entity_type=entity_type,
            entity_id=entity_id,
            version=int(payload.get("version") or 0),
            scope=stream.split(":", 1)[0],
            t_recv=t_recv,
            server_ts=parse_wire_time(payload.get("timestamp")),
            bytes=nbytes,
            replayed=1 if self.replaying else 0,
            worker=self.worker,
        )
        MEASUREMENTS.fire(record)
        return record

    def _account(self, state: StreamState, stream: str, seq: int, event_id: str) -> None:
        if self.replaying:
            # A replay at or below the cursor we named is the server's error (STR-2); above it,
            # re-sending what we already hold after a hole is what the cursor asks for.
            if seq <= state.cursor_sent and seq > state.start_seq:
                self._anomaly(AnomalyKind.DUPLICATE, stream, seq, event_id, "replayed below cursor")
            state.replayed.add(seq)
            state.max_seq = max(state.max_seq, seq)
            return
        if seq in state.live:
            self._anomaly(AnomalyKind.DUPLICATE, stream, seq, event_id, "received twice live")
            return
        if seq <= state.start_seq:
            state.live.add(seq)
            return
        if seq < state.max_seq:
            self._anomaly(AnomalyKind.OUT_OF_ORDER, stream, seq, event_id, f"after {state.max_seq}")
        elif seq > state.max_seq + 1:
            self._anomaly(
                AnomalyKind.GAP, stream, seq, event_id, f"missing {state.max_seq + 1}..{seq - 1}"
            )
        state.live.add(seq)
        state.max_seq = max(state.max_seq, seq)

    def _check_redaction(
        self,
        payload: dict[str, Any],
        entity_type: str,
        entity_id: str,
        stream: str,
        seq: int,
        event_id: str,
    ) -> None:
        changes = payload.get("changes")
        if not isinstance(changes, dict):
            return
        owner = changes.get("ownerId") or self.owners.get(entity_id)
        if isinstance(owner, str) and entity_id:
            self.owners.setdefault(entity_id, owner)
        if owner is None or owner == self.receiver:
            return
        for key in SENSITIVE_FIELDS.get(entity_type, ()):
            if key in changes and changes[key] != REDACTED and changes[key] is not None:
                self._anomaly(
                    AnomalyKind.REDACTION_LEAK, stream, seq, event_id, f"{key} at non-owner"
                )

    def close_out(self, heads: dict[str, Any]) -> list[StreamRecord]:
        """After the closing sync: one StreamRecord per stream (`heads` = the sync ack's)."""
        out = []
        for name, state in self.streams.items():
            entry = heads.get(name) or {}
            head = int(entry.get("head", state.max_seq)) if isinstance(entry, dict) else 0
            owed = range(state.start_seq + 1, head + 1)
            live = sum(1 for s in owed if s in state.live)
            final = sum(1 for s in owed if s in state.live or s in state.replayed)
            reset = 1 if isinstance(entry, dict) and entry.get("reset") else 0
            if reset:
                self._anomaly(AnomalyKind.RESET, name, head, "", "closing sync answered reset")
            record = StreamRecord(
                receiver=self.receiver,
                socket=self.socket_id,
                stream=name,
                start_seq=state.start_seq,
                head=head,
                received_live=live,
                missing_live=len(owed) - live,
                missing_final=len(owed) - final,
                reset=reset,
                worker=self.worker,
                node=self.node,
            )
            MEASUREMENTS.fire(record)
            out.append(record)
        return out
