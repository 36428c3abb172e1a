"""The stream accountant (STR-1, STR-2, STR-5): examples, and properties checked against a
plain-set model of the same rules (the bookkeeping the client and the load engine did before
they shared the accountant)."""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.stream_accountant import ANOMALY_OF, AnomalyKind, Arrival, StreamAccountant

# Generated cases only: no deadline, a busy machine must not fail them (GUIDE).
PROPERTIES = settings(max_examples=300, deadline=None)
TEAM = "team:t1"


def test_in_order_gap_late_duplicate() -> None:
    account = StreamAccountant([TEAM])
    ledger = account.ledger(TEAM)
    assert [account.feed(TEAM, s) for s in (1, 2, 5)] == [
        Arrival.IN_ORDER, Arrival.IN_ORDER, Arrival.AFTER_GAP,
    ]  # fmt: skip
    assert ledger.prior_top == 2 and ledger.gaps() == [3, 4] and ledger.cursor == 2
    assert account.feed(TEAM, 4) is Arrival.LATE and ledger.prior_top == 5
    assert account.feed(TEAM, 4) is Arrival.DUPLICATE
    assert account.gaps() == {TEAM: [3]} and ledger.missing == 1
    assert account.feed(TEAM, 3) is Arrival.LATE
    assert account.gaps() == {} and account.cursors() == {TEAM: 5}
    assert ledger.held() == [1, 2, 3, 4, 5]


def test_fixed_streams_and_base() -> None:
    """A socket owes its own streams above the heads it joined at: others are FOREIGN,
    what is at or below the head is STALE."""
    account = StreamAccountant([TEAM, "user:u1"])
    account.set_base(TEAM, 10)
    assert account.feed("team:t2", 1) is Arrival.FOREIGN
    assert account.feed(TEAM, 10) is Arrival.STALE
    assert account.feed(TEAM, 11) is Arrival.IN_ORDER
    assert account.feed("user:u1", 2) is Arrival.AFTER_GAP
    assert account.cursors() == {TEAM: 11, "user:u1": 0}
    assert StreamAccountant().feed("any:stream", 1) is Arrival.IN_ORDER  # open set


def test_replays() -> None:
    """STR-2: a replay above the cursor named fills holes (and counts as held, not live);
    one at or below the cursor is the server's error; a live copy of a replayed event
    afterwards makes it live too."""
    account = StreamAccountant([TEAM])
    ledger = account.ledger(TEAM)
    for seq in (1, 2, 5):
        account.feed(TEAM, seq)
    assert account.cursors() == {TEAM: 2}
    assert account.feed(TEAM, 2, replayed=True) is Arrival.BELOW_CURSOR
    assert [account.feed(TEAM, s, replayed=True) for s in (3, 4, 5, 6)] == [Arrival.REPLAYED] * 4
    assert ledger.cursor == 6 and ledger.gaps() == []
    assert ledger.count_held(0, 6) == 6 and ledger.count_held(0, 6, live=True) == 3
    assert account.feed(TEAM, 4) is Arrival.LATE  # live copy of a replayed event
    assert ledger.count_held(0, 6, live=True) == 4
    assert account.feed(TEAM, 4) is Arrival.DUPLICATE


def test_event_ids() -> None:
    """STR-5: with ids remembered, an eventId seen before is a duplicate wherever it comes
    again; STR-1: a held seq under a new eventId is a conflict."""
    account = StreamAccountant(remember_ids=True)
    assert account.feed(TEAM, 1, "a") is Arrival.IN_ORDER
    assert account.feed(TEAM, 1, "a") is Arrival.DUPLICATE
    assert account.feed(TEAM, 1, "b") is Arrival.CONFLICT
    assert account.feed(TEAM, 2, "a") is Arrival.DUPLICATE


def test_set_base_trims_holes() -> None:
    account = StreamAccountant([TEAM])
    ledger = account.ledger(TEAM)
    for seq in (2, 6, 9):
        account.feed(TEAM, seq)
    assert ledger.gaps() == [1, 3, 4, 5, 7, 8]
    ledger.set_base(4)
    assert ledger.gaps() == [5, 7, 8] and ledger.cursor == 4
    ledger.set_base(12)
    assert ledger.gaps() == [] and ledger.cursor == 12 and ledger.top == 12


def test_one_vocabulary() -> None:
    """The strings users read in anomalies.csv are the enum's values."""
    assert {str(k) for k in AnomalyKind} >= {
        "duplicate", "gap", "out_of_order", "isolation_leak", "redaction_leak", "reset",
        "connect_error", "disconnect",
    }  # fmt: skip
    assert ANOMALY_OF[Arrival.LATE] is AnomalyKind.OUT_OF_ORDER


# -- properties ---------------------------------------------------------------------------------


@given(st.integers(0, 40).flatmap(
    lambda n: st.lists(st.integers(1, max(n, 1)), max_size=3 * n).map(
        lambda extra: list(range(1, n + 1)) + [s for s in extra if s <= n]
    ).flatmap(st.permutations)
))  # fmt: skip
@PROPERTIES
def test_any_order_of_a_gapless_sequence_ends_without_gaps(arrivals: list[int]) -> None:
    """Any permutation of 1..n with any copies: no gap at the end, cursor n, every copy a
    duplicate, a LATE exactly for each first copy below the highest seen before it."""
    account = StreamAccountant([TEAM])
    outcomes = [account.feed(TEAM, s) for s in arrivals]
    n = max(arrivals, default=0)
    assert account.gaps() == {} and account.cursors() == {TEAM: n}
    assert outcomes.count(Arrival.DUPLICATE) == len(arrivals) - n
    seen: set[int] = set()
    late = 0
    for seq in arrivals:
        late += seq not in seen and bool(seen) and seq < max(seen)
        seen.add(seq)
    assert outcomes.count(Arrival.LATE) == late
    assert account.ledger(TEAM).held() == list(range(1, n + 1))


@dataclass
class SetModel:
    """The same rules on plain sets: what the load engine's tracker did before."""

    base: int = 0
    top: int = 0
    cursor_sent: int = 0
    live: set[int] = field(default_factory=set)
    replayed: set[int] = field(default_factory=set)

    def feed(self, seq: int, replay: bool) -> tuple[Arrival, int]:
        if seq <= self.base:
            return Arrival.STALE, self.top
        top = self.top
        if replay:
            if seq <= self.cursor_sent:
                return Arrival.BELOW_CURSOR, top
            if seq not in self.live:
                self.replayed.add(seq)
            self.top = max(top, seq)
            return Arrival.REPLAYED, top
        if seq in self.live:
            return Arrival.DUPLICATE, top
        self.live.add(seq)
        self.replayed.discard(seq)
        self.top = max(top, seq)
        if seq < top:
            return Arrival.LATE, top
        return (Arrival.AFTER_GAP if seq > top + 1 else Arrival.IN_ORDER), top

    def cursor(self) -> int:
        cursor = self.base
        while cursor + 1 in self.live or cursor + 1 in self.replayed:
            cursor += 1
        return max(cursor, self.base)

    def gaps(self) -> list[int]:
        return [s for s in range(self.base + 1, self.top + 1)
                if s not in self.live and s not in self.replayed]  # fmt: skip

    def count(self, head: int, live: bool) -> int:
        held = self.live if live else self.live | self.replayed
        return sum(1 for s in range(self.base + 1, head + 1) if s in held)


OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("live"), st.integers(1, 25)),
        st.tuples(st.just("replay"), st.integers(1, 25)),
        st.tuples(st.just("cursors"), st.just(0)),
    ),
    max_size=60,
)


@given(st.integers(0, 8), OPERATIONS)
@PROPERTIES
def test_agrees_with_the_set_model(base: int, operations: list[tuple[str, int]]) -> None:
    """Every arrival, the gap's start, the cursor, the gaps and the live/final counts at any
    head equal those of the plain-set model, whatever the interleaving of live events,
    replays and syncs."""
    account = StreamAccountant([TEAM])
    account.set_base(TEAM, base)
    ledger = account.ledger(TEAM)
    model = SetModel(base=base, top=base)
    for op, seq in operations:
        if op == "cursors":
            model.cursor_sent = model.cursor()
            assert account.cursors() == {TEAM: model.cursor_sent}
            continue
        expected, prior = model.feed(seq, op == "replay")
        assert account.feed(TEAM, seq, replayed=op == "replay") is expected
        if expected in (Arrival.AFTER_GAP, Arrival.LATE):
            assert ledger.prior_top == prior
        assert ledger.cursor == model.cursor() and ledger.gaps() == model.gaps()
    for head in range(base, 27):
        assert ledger.count_held(base, head) == model.count(head, live=False)
        assert ledger.count_held(base, head, live=True) == model.count(head, live=True)
