"""Per-socket stream bookkeeping: what arrived, what is missing, what must never arrive.

A socket owes exactly the seqs of its user's three streams above the head it saw when it
joined (STR-1). Every durable event becomes a `DeliveryRecord`; the stream accounting is
`harness.stream_accountant`'s, and what it finds (a seq seen twice, below the highest seen, or
skipping ahead, an event from a foreign stream, EVT-1) becomes an `AnomalyRecord`, as does a
true sensitive value at a non-owner (RED-1).
"""

from __future__ import annotations

import time
from collections.abc import MutableMapping
from datetime import datetime
from typing import Any

from harness.contract import PayloadValidator
from harness.spec import DATA_EVENTS, REDACTED, SENSITIVE_FIELDS
from harness.stream_accountant import ANOMALY_OF, Arrival, StreamAccountant

from .measure import MEASUREMENTS, AnomalyKind, AnomalyRecord, DeliveryRecord, StreamRecord

__all__ = ["VALIDATE_EVERY", "SocketTracker", "parse_wire_time"]

# One delivery in this many is validated against its schema (issue 17): a data event costs
# 7-14 µs in jsonschema-rs (measured on a loaded 2-core machine), so the sample adds about
# 0.2 µs per delivery to the generator's hot path (budget 70 µs); a server that breaks a
# payload kind breaks it often enough to be seen.
VALIDATE_EVERY = 50
_VALIDATOR: PayloadValidator | None = None  # one per process, compiled on first use


def _validator() -> PayloadValidator:
    global _VALIDATOR
    if _VALIDATOR is None:
        _VALIDATOR = PayloadValidator()
    return _VALIDATOR


_DATA_EVENTS = frozenset(DATA_EVENTS)


# Arrivals that are anomalies in a load run; REPLAYED and STALE are not.
_REPORTED = frozenset(ANOMALY_OF) - {Arrival.CONFLICT}  # without ids a conflict is a DUPLICATE


def parse_wire_time(value: Any) -> float:
    """TRN-4 timestamp to epoch seconds; NaN when absent or malformed (a finding, not a crash)."""
    try:
        return datetime.fromisoformat(value).timestamp()
    except (TypeError, ValueError):
        return float("nan")


class SocketTracker:
    """Owned by one socket; `owners` maps entity id → owner user id, shared per process."""

    __slots__ = (
        "accountant", "node", "owners", "receiver", "replaying", "sampled", "socket_id", "worker",
    )  # fmt: skip

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
        self.accountant = StreamAccountant(my_streams)
        self.owners = owners
        self.worker = worker
        self.replaying = False
        self.sampled = 0  # events since the last one validated

    def start_at(self, heads: dict[str, int]) -> None:
        """Heads from the joining sync: the socket owes only what comes after them."""
        for name in self.accountant.streams:
            self.accountant.set_base(name, int(heads.get(name, 0)))

    def cursors(self) -> dict[str, int]:
        """Cursors for a sync; remembered so that replays below them count as duplicates."""
        return self.accountant.cursors()

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
        self.sampled += 1
        if self.sampled >= VALIDATE_EVERY:
            self.sampled = 0
            self._validate(name, payload)
        if not isinstance(payload, dict):
            return None
        stream, seq = payload.get("stream"), payload.get("seq")
        if not isinstance(stream, str) or not isinstance(seq, int):
            return None  # ephemeral (§10) or session events
        event_id = str(payload.get("eventId", ""))
        arrival = self.accountant.feed(stream, seq, None, self.replaying)
        if arrival and arrival in _REPORTED:
            self._report(arrival, name, stream, seq, event_id)
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

    def _validate(self, name: str, payload: Any) -> None:
        for violation in _validator().event(name, payload):
            stream = payload.get("stream") if isinstance(payload, dict) else None
            seq = payload.get("seq") if isinstance(payload, dict) else None
            event_id = payload.get("eventId") if isinstance(payload, dict) else None
            detail = f"{violation.requirement} {name} {violation.path}: {violation.message}"
            self._anomaly(AnomalyKind.SCHEMA_VIOLATION, str(stream or ""),
                          seq if isinstance(seq, int) else 0, str(event_id or ""),
                          detail[:300])  # fmt: skip

    def _report(self, arrival: Arrival, name: str, stream: str, seq: int, event_id: str) -> None:
        if arrival is Arrival.FOREIGN:
            detail = f"{name} delivered"
        elif arrival is Arrival.BELOW_CURSOR:
            # A replay at or below the cursor we named is the server's error (STR-2); above
            # it, re-sending what we already hold after a hole is what the cursor asks for.
            detail = "replayed below cursor"
        elif arrival is Arrival.DUPLICATE:
            detail = "received twice live"
        else:
            prior = self.accountant.ledger(stream).prior_top
            detail = (
                f"after {prior}" if arrival is Arrival.LATE else f"missing {prior + 1}..{seq - 1}"
            )
        self._anomaly(ANOMALY_OF[arrival], stream, seq, event_id, detail)

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

    def close_out(self, heads: dict[str, Any], *, synced: bool = True) -> list[StreamRecord]:
        """After the closing sync: one StreamRecord per stream (`heads` = the sync ack's;
        `synced` False when the sync could not be made)."""
        out = []
        for name in self.accountant.streams:
            ledger = self.accountant.ledger(name)
            entry = heads.get(name) or {}
            head = int(entry.get("head", ledger.top)) if isinstance(entry, dict) else 0
            owed = max(0, head - ledger.base)
            live = ledger.count_held(ledger.base, head, live=True)
            final = ledger.count_held(ledger.base, head)
            reset = 1 if isinstance(entry, dict) and entry.get("reset") else 0
            if reset:
                self._anomaly(AnomalyKind.RESET, name, head, "", "closing sync answered reset")
            record = StreamRecord(
                receiver=self.receiver,
                socket=self.socket_id,
                stream=name,
                start_seq=ledger.base,
                head=head,
                received_live=live,
                missing_live=owed - live,
                missing_final=owed - final,
                reset=reset,
                worker=self.worker,
                node=self.node,
                synced=int(synced),
            )
            MEASUREMENTS.fire(record)
            out.append(record)
        return out
