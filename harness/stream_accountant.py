"""One account of a receiver's durable event streams (SPEC §7): what arrived, what is missing,
what came twice or out of order, and the cursors to `sync` with (STR-1, STR-2, STR-5).

Sans-I/O and standard library only: the conformance client (`harness.client.StreamTracker`)
and the load engine (`harness.load.tracker.SocketTracker`) feed it (stream, seq, eventId)
and read it; what a caller records as an anomaly of which `Arrival` is the caller's policy
(the client judges gaps at the end, the load engine logs each one as it happens).

It sits on the load engine's per-delivery path, so an event costs a dict lookup and a few
integer comparisons, and a stream's memory is O(holes), not O(events): the seqs held are
everything up to `top` except a short sorted list of missing intervals (in a healthy stream,
none). `benchmarks/bench_stream_accountant.py` prints the cost per event.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping
from enum import IntEnum, StrEnum

__all__ = [
    "ANOMALY_OF",
    "AnomalyKind",
    "Arrival",
    "StreamAccountant",
    "StreamLedger",
]


class AnomalyKind(StrEnum):
    """The one vocabulary of anomalies the harness reports: anomalies.csv's `kind` column,
    the client's `Anomaly.kind`, and the per-stream columns of the reports."""

    DUPLICATE = "duplicate"  # an event (a seq, or an eventId) received twice
    CONFLICT = "conflict"  # one seq under two eventIds (STR-1: a seq is one event)
    OUT_OF_ORDER = "out_of_order"  # below the highest seq already held
    GAP = "gap"  # ahead of the next seq: the ones between are missing for now
    BAD_SEQ = "bad_seq"  # a durable event whose seq is not an integer ≥ 1
    RESET = "reset"  # a sync answered `reset`: the stream must be refetched (STR-3)
    ISOLATION_LEAK = "isolation_leak"  # an event of a stream not the receiver's (EVT-1)
    SCHEMA_VIOLATION = "schema_violation"  # a sampled payload broke its schema (issue 17)
    REDACTION_LEAK = "redaction_leak"  # a sensitive value at a non-owner (RED-1)
    CONNECT_ERROR = "connect_error"
    # The server refused a connect in AUTH-2 form; `detail` is its code. SERVER_BUSY (LIM-6)
    # is a node shedding load, not an error: the user comes back after retryAfterMs.
    CONNECT_REFUSED = "connect_refused"
    DISCONNECT = "disconnect"  # the server or the network closed a socket mid-run


class Arrival(IntEnum):
    """What one event was to its stream's account. Zero is the healthy case."""

    IN_ORDER = 0  # the next seq after everything held: held now
    AFTER_GAP = 1  # ahead of the next seq: held now, the seqs between are missing
    LATE = 2  # below the highest seq held, filling a hole: held now
    DUPLICATE = 3  # already held: changes nothing
    CONFLICT = 4  # a seq already held, under an eventId never seen (ids remembered only)
    STALE = 5  # at or below the base: held before the account began
    REPLAYED = 6  # a sync's replay above the cursor it named: held now, if it was not
    BELOW_CURSOR = 7  # a replay at or below the cursor the sync named (STR-2 broken)
    FOREIGN = 8  # a stream outside the fixed set accounted for


# The anomaly each arrival is, for callers that record it (which ones they record is theirs).
ANOMALY_OF: Mapping[Arrival, AnomalyKind] = {
    Arrival.AFTER_GAP: AnomalyKind.GAP,
    Arrival.LATE: AnomalyKind.OUT_OF_ORDER,
    Arrival.DUPLICATE: AnomalyKind.DUPLICATE,
    Arrival.CONFLICT: AnomalyKind.CONFLICT,
    Arrival.BELOW_CURSOR: AnomalyKind.DUPLICATE,
    Arrival.FOREIGN: AnomalyKind.ISOLATION_LEAK,
}

# Module constants: an enum attribute lookup per event would be most of the cost.
_IN_ORDER, _AFTER_GAP, _LATE = Arrival.IN_ORDER, Arrival.AFTER_GAP, Arrival.LATE
_DUPLICATE, _CONFLICT, _STALE = Arrival.DUPLICATE, Arrival.CONFLICT, Arrival.STALE
_REPLAYED, _BELOW_CURSOR, _FOREIGN = Arrival.REPLAYED, Arrival.BELOW_CURSOR, Arrival.FOREIGN


class StreamLedger:
    """One stream at one receiver. Held: every seq ≤ `base`, and those in (base, top] that
    are not in the missing intervals. `prior_top` is `top` before the last AFTER_GAP or LATE
    arrival (where the gap began, what the late event came after)."""

    __slots__ = ("_highs", "_lows", "_replay_only", "base", "cursor_sent", "prior_top", "top")

    def __init__(self, base: int = 0) -> None:
        self.base = base
        self.top = base
        self.prior_top = base
        self.cursor_sent = 0  # the cursor the last `sync` named for this stream
        self._lows: list[int] = []  # missing intervals [low, high], sorted, disjoint, > base
        self._highs: list[int] = []
        self._replay_only: set[int] | None = None  # held, but never received live

    # -- feeding ---------------------------------------------------------------------------------

    def feed(self, seq: int, replayed: bool = False) -> Arrival:
        """Account for one event of this stream; `replayed`: it came from a sync's replay."""
        if seq <= self.base:
            return _STALE
        top = self.top
        if replayed:
            if seq <= self.cursor_sent:
                return _BELOW_CURSOR
            if seq == top + 1:
                self.top = seq
            elif seq > top:
                self._lows.append(top + 1)
                self._highs.append(seq - 1)
                self.top = seq
            elif not self._fill(seq):
                return _REPLAYED  # re-sent after a hole, as the cursor asked: nothing new
            if self._replay_only is None:
                self._replay_only = set()
            self._replay_only.add(seq)
            return _REPLAYED
        if seq == top + 1:
            self.top = seq
            return _IN_ORDER
        if seq > top:
            self._lows.append(top + 1)
            self._highs.append(seq - 1)
            self.prior_top = top
            self.top = seq
            return _AFTER_GAP
        if not self._fill(seq):
            held_by_replay = self._replay_only
            if held_by_replay is None or seq not in held_by_replay:
                return _DUPLICATE
            held_by_replay.discard(seq)  # a live copy of what a replay brought: live now too
        if seq == top:
            return _IN_ORDER
        self.prior_top = top
        return _LATE

    def _fill(self, seq: int) -> bool:
        """Take `seq` (≤ top) out of the missing intervals; False when it was held."""
        lows, highs = self._lows, self._highs
        if not lows:
            return False
        i = bisect_right(lows, seq) - 1
        if i < 0 or seq > highs[i]:
            return False
        low, high = lows[i], highs[i]
        if low == high:
            del lows[i], highs[i]
        elif seq == low:
            lows[i] = seq + 1
        elif seq == high:
            highs[i] = seq - 1
        else:
            highs[i] = seq - 1
            lows.insert(i + 1, seq + 1)
            highs.insert(i + 1, high)
        return True

    def set_base(self, cursor: int) -> None:
        """The receiver holds everything up to `cursor` (a sync's head, a reset's head)."""
        if cursor <= self.base:
            return
        self.base = cursor
        if cursor >= self.top:
            self.top = cursor
            self._lows.clear()
            self._highs.clear()
        else:
            i = bisect_right(self._highs, cursor)  # intervals ending at or below the base go
            del self._lows[:i], self._highs[:i]
            if self._lows and self._lows[0] <= cursor:
                self._lows[0] = cursor + 1
        if self._replay_only:
            self._replay_only = {s for s in self._replay_only if s > cursor}

    # -- reading ---------------------------------------------------------------------------------

    @property
    def cursor(self) -> int:
        """The last seq held with none missing before it: what `sync` should send (STR-2)."""
        return self._lows[0] - 1 if self._lows else self.top

    def gaps(self) -> list[int]:
        """The seqs missing between the base and the highest seq held, ascending."""
        return [s for low, high in zip(self._lows, self._highs, strict=True)
                for s in range(low, high + 1)]  # fmt: skip

    @property
    def missing(self) -> int:
        return sum(high - low + 1 for low, high in zip(self._lows, self._highs, strict=True))

    def held(self) -> list[int]:
        """Every seq held above the base, ascending."""
        out: list[int] = []
        start = self.base + 1
        for low, high in zip(self._lows, self._highs, strict=True):
            out.extend(range(start, low))
            start = high + 1
        out.extend(range(start, self.top + 1))
        return out

    def count_held(self, low: int, high: int, *, live: bool = False) -> int:
        """How many seqs in (low, high] are held; `live`: received live, not only replayed.
        Seqs at or below the base count as held (live or not: the account began there)."""
        end = min(high, self.top)
        if end <= low:
            return 0
        count = end - low
        for gap_low, gap_high in zip(self._lows, self._highs, strict=True):
            if gap_low > end:
                break
            count -= max(0, min(gap_high, end) - max(gap_low, low + 1) + 1)
        if live and self._replay_only:
            count -= sum(1 for s in self._replay_only if low < s <= end)
        return count


class StreamAccountant:
    """The ledgers of one receiver's streams.

    `streams` fixes the set (the load engine's socket owes exactly its user's three streams;
    any other is FOREIGN); without it a stream is accounted from its first event. With
    `remember_ids`, an eventId seen before is a DUPLICATE wherever it comes again, and a held
    seq under a new eventId a CONFLICT; without (the load engine: ids cost memory per event),
    a held seq is a DUPLICATE.
    """

    __slots__ = ("_event_ids", "_fixed", "_ledgers")

    def __init__(
        self,
        streams: Iterable[str] | None = None,
        *,
        cursors: Mapping[str, int] | None = None,
        remember_ids: bool = False,
    ) -> None:
        self._fixed = streams is not None
        self._ledgers: dict[str, StreamLedger] = {s: StreamLedger() for s in streams or ()}
        self._event_ids: set[str] | None = set() if remember_ids else None
        for stream, cursor in (cursors or {}).items():
            self.set_base(stream, cursor)

    def feed(
        self, stream: str, seq: int, event_id: str | None = None, replayed: bool = False
    ) -> Arrival:
        ledger = self._ledgers.get(stream)
        if ledger is None:
            if self._fixed:
                return _FOREIGN
            ledger = self._ledgers[stream] = StreamLedger()
        ids = self._event_ids
        if ids is None or event_id is None:
            return ledger.feed(seq, replayed)
        if event_id in ids:
            return _DUPLICATE
        ids.add(event_id)
        arrival = ledger.feed(seq, replayed)
        return _CONFLICT if arrival is _DUPLICATE else arrival

    def ledger(self, stream: str) -> StreamLedger:
        """The stream's ledger (a new, empty one for a stream not yet seen)."""
        ledger = self._ledgers.get(stream)
        if ledger is None:
            ledger = self._ledgers[stream] = StreamLedger()
        return ledger

    def set_base(self, stream: str, cursor: int) -> None:
        """The receiver already holds `stream` up to `cursor` (a sync's head)."""
        self.ledger(stream).set_base(cursor)

    @property
    def streams(self) -> tuple[str, ...]:
        return tuple(self._ledgers)

    def cursors(self) -> dict[str, int]:
        """Every stream's cursor, for a `sync`; remembered, so that a replay at or below
        them is BELOW_CURSOR."""
        out = {}
        for stream, ledger in self._ledgers.items():
            ledger.cursor_sent = out[stream] = ledger.cursor
        return out

    def gaps(self) -> dict[str, list[int]]:
        """Streams with seqs missing, and which."""
        found = {stream: ledger.gaps() for stream, ledger in self._ledgers.items()}
        return {stream: missing for stream, missing in found.items() if missing}
