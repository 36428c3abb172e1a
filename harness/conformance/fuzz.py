"""Inputs for the fuzz checks: Hypothesis strategies built from the spec's field tables, and a
time-bounded, seeded way to draw them.

Every case carries what the spec says must happen to it (`expect`): `ok`, a code, or `refused`
(some §13 code other than INTERNAL). Invalid cases are mostly *partly* valid: a valid body with
one field broken (wrong type, out of range, unknown, read-only, `null` where required), so that
a server that writes the valid part before refusing is caught by the read-back.
"""

from __future__ import annotations

import contextlib
import string
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from harness.spec import (
    CLIENT_EVENTS,
    FIELDS,
    READ_ONLY_FIELDS,
    ClientEvent,
    ErrorCode,
    FieldKind,
    FieldSpec,
)

__all__ = [
    "ANSWERED",
    "OK",
    "REFUSED",
    "FuzzCase",
    "client_event_cases",
    "draw_for",
]

T = TypeVar("T")
OK = "ok"
REFUSED = "refused"  # any code from §13 but INTERNAL
ANSWERED = "answered"  # ok or refused: the spec leaves it open
_INVALID = ErrorCode.VALIDATION_ERROR.value


@dataclass(frozen=True, slots=True)
class FuzzCase:
    event: str
    payload: Any
    expect: str  # OK, REFUSED or an error code
    label: str  # what kind of variation, for the evidence
    entity_type: str | None = None  # a mutate's type (creates are counted per type)
    target: str | None = None  # the fixed record a mutate touches


# Values -------------------------------------------------------------------------------------

_SAFE = string.ascii_letters + string.digits + " -.,'éøßΩ漢"
_TEXT_START = string.ascii_letters


def _text(min_size: int, max_size: int) -> st.SearchStrategy[str]:
    head = st.sampled_from(_TEXT_START)
    tail = st.text(alphabet=_SAFE, max_size=max(max_size - 1, 0))
    text = st.builds(lambda h, t: (h + t)[:max_size], head, tail)
    return text if min_size > 0 else st.one_of(st.just(""), text)


def _timestamp() -> st.SearchStrategy[str]:
    offsets = st.sampled_from([timedelta(0), timedelta(hours=2), timedelta(hours=-5, minutes=-30)])
    moments = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31))
    return st.builds(lambda m, o: m.replace(tzinfo=timezone(o)).isoformat(), moments, offsets)


def valid_value(spec: FieldSpec) -> st.SearchStrategy[Any]:
    kind = spec.kind
    if kind is FieldKind.STRING:
        return _text(1 if spec.required else 0, min(spec.max_length or 80, 80))
    if kind is FieldKind.NUMBER:
        low = spec.minimum if spec.minimum is not None else -1e9
        return st.floats(min_value=low, max_value=1e12, exclude_min=spec.exclusive_min,
                         allow_nan=False, allow_infinity=False)  # fmt: skip
    if kind is FieldKind.INTEGER:
        return st.integers(int(spec.minimum or 0), int(spec.maximum or 10**9))
    if kind is FieldKind.DATE:
        return st.dates(min_value=datetime(2000, 1, 1).date()).map(lambda d: d.isoformat())
    if kind is FieldKind.TIMESTAMP:
        return _timestamp()
    if kind is FieldKind.ENUM:
        return st.sampled_from(spec.choices)
    if kind is FieldKind.TAGS:
        return st.lists(_text(1, 64), max_size=5)
    if kind is FieldKind.OBJECT:
        return st.dictionaries(_text(1, 12), st.one_of(st.integers(), _text(0, 20)), max_size=3)
    return st.from_regex(r"\A[0-9]{4}\Z")


def invalid_value(spec: FieldSpec) -> st.SearchStrategy[Any]:
    """A value the spec refuses for this field (§4, §15)."""
    kind = spec.kind
    wrong_type: list[Any] = [True, [1]] if kind is FieldKind.OBJECT else [True, {"x": 1}]
    if kind is not FieldKind.TAGS:
        wrong_type.append([1] if kind is not FieldKind.OBJECT else 42)
    options: list[st.SearchStrategy[Any]] = [st.sampled_from(wrong_type)]
    if kind in (FieldKind.NUMBER, FieldKind.INTEGER):
        options.append(st.sampled_from(["12", "lots"]))
        if spec.minimum is not None:
            options.append(st.just(spec.minimum - (0 if spec.exclusive_min else 1)))
        if spec.maximum is not None:
            options.append(st.just(spec.maximum + 1))
        if kind is FieldKind.INTEGER:
            options.append(st.just(50.5))
    else:
        options.append(st.sampled_from([42, 3.5]))
    if kind is FieldKind.STRING and spec.max_length is not None:
        options.append(st.just("x" * (spec.max_length + 1)))
    if kind is FieldKind.STRING and spec.required:
        options.append(st.just(""))
    if kind is FieldKind.ENUM:
        options.append(st.just("not-a-" + spec.name))
    if kind is FieldKind.DATE:
        options.append(st.sampled_from(["2026-13-45", "12/01/2026", "2026-02-30"]))
    if kind is FieldKind.TIMESTAMP:
        options.append(st.sampled_from(["yesterday", "2026-12-01T15:30:00", "2026-12-01"]))
    if kind is FieldKind.TAGS:
        options.append(st.just(["t"] * 51))
        options.append(st.just(["x" * 65]))
    if kind is FieldKind.DIGITS4:
        options.append(st.sampled_from(["123", "12345", "12a4", 1234]))
    return st.one_of(*options)


# Bodies -------------------------------------------------------------------------------------


def create_body(entity_type: str) -> st.SearchStrategy[dict[str, Any]]:
    fields = FIELDS[entity_type]
    required = {n: valid_value(f) for n, f in fields.items() if f.required}
    optional = {n: valid_value(f) for n, f in fields.items() if not f.required}
    return st.fixed_dictionaries(required, optional=optional)


def update_changes(entity_type: str) -> st.SearchStrategy[dict[str, Any]]:
    fields = {n: f for n, f in FIELDS[entity_type].items() if not f.create_only}
    names = st.lists(st.sampled_from(sorted(fields)), min_size=1, max_size=3, unique=True)
    return names.flatmap(lambda ns: st.fixed_dictionaries({n: valid_value(fields[n]) for n in ns}))


def spoil(entity_type: str, body: dict[str, Any], creating: bool) -> st.SearchStrategy[Any]:
    """`body` with one thing wrong: the rest stays valid (issue 17: partly valid requests)."""
    fields = FIELDS[entity_type]
    settable = [n for n, f in fields.items() if creating or not f.create_only]

    def with_field(name: str, value: Any) -> dict[str, Any]:
        return {**body, name: value}

    ways: list[st.SearchStrategy[Any]] = [
        st.sampled_from(settable).flatmap(
            lambda n: invalid_value(fields[n]).map(lambda v: with_field(n, v))
        ),
        st.sampled_from(["colour", "ownerID", "_id"]).map(lambda n: with_field(n, "x")),
        st.sampled_from(sorted(READ_ONLY_FIELDS)).map(lambda n: with_field(n, "x")),
    ]
    required = [n for n, f in fields.items() if f.required]
    if creating:
        ways.append(st.sampled_from(required).map(lambda n: with_field(n, None)))
        ways.append(st.sampled_from(required).map(
            lambda n: {k: v for k, v in body.items() if k != n}))  # fmt: skip
    else:
        ways.append(st.sampled_from(["team", "private"]).map(lambda v: with_field("visibility", v)))
    return st.one_of(*ways)


# Client events ------------------------------------------------------------------------------


def _mutate(records: Mapping[str, str]) -> st.SearchStrategy[FuzzCase]:
    types = st.sampled_from(sorted(records))
    ids = st.uuids().map(lambda u: u.hex)

    def cases(entity_type: str) -> st.SearchStrategy[FuzzCase]:
        rid = records[entity_type]

        def create(body: Any, key: str, ok: bool) -> FuzzCase:
            payload = {"mutationId": key, "op": "create", "entityType": entity_type,
                       "changes": body}  # fmt: skip
            return FuzzCase(
                ClientEvent.MUTATE,
                payload,
                OK if ok else _INVALID,
                "mutate create" + ("" if ok else " (one field wrong)"),
                entity_type,
            )

        def update(changes: Any, key: str, ok: bool) -> FuzzCase:
            payload = {"mutationId": key, "op": "update", "entityType": entity_type, "id": rid,
                       "changes": changes}  # fmt: skip
            return FuzzCase(ClientEvent.MUTATE, payload, OK if ok else _INVALID,
                            "mutate update" + ("" if ok else " (one field wrong)"),
                            entity_type, rid)  # fmt: skip

        bodies = create_body(entity_type)
        changes = update_changes(entity_type)
        return st.one_of(
            st.builds(create, bodies, ids, st.just(True)),
            st.builds(create, bodies.flatmap(lambda b: spoil(entity_type, b, True)), ids,
                      st.just(False)),
            st.builds(update, changes, ids, st.just(True)),
            st.builds(update, changes.flatmap(lambda c: spoil(entity_type, c, False)), ids,
                      st.just(False)),
        )  # fmt: skip

    shapes = st.sampled_from([
        ("not an object", ["create"]), ("no mutationId", {"op": "create", "entityType": "lead"}),
        ("numeric mutationId", {"mutationId": 7, "op": "create", "entityType": "lead",
                                "changes": {"name": "x"}}),
        ("unknown op", {"mutationId": "m", "op": "explode", "entityType": "lead"}),
        ("unknown type", {"mutationId": "m", "op": "create", "entityType": "yacht",
                          "changes": {}}),
        ("changes not an object", {"mutationId": "m", "op": "create", "entityType": "lead",
                                   "changes": "x"}),
        ("mutationId too long", {"mutationId": "k" * 65, "op": "create", "entityType": "lead",
                                 "changes": {"name": "x"}}),
    ]).map(lambda s: FuzzCase(ClientEvent.MUTATE, s[1], _INVALID, "mutate " + s[0]))  # fmt: skip
    return st.one_of(types.flatmap(cases), shapes)


def _others(records: Mapping[str, str], streams: tuple[str, ...]) -> st.SearchStrategy[FuzzCase]:
    entity_type = sorted(records)[0]
    ref = {"entityType": entity_type, "entityId": records[entity_type]}
    cursor = st.integers(0, 5)
    bad_cursor = st.sampled_from([-1, 1.5, "3", None, True, [0]])
    valid = [
        st.builds(lambda s, c: FuzzCase(ClientEvent.SYNC, {"cursors": {s: c}}, OK, "sync"),
                  st.sampled_from(streams), cursor),
        st.just(FuzzCase(ClientEvent.PRESENCE_LIST, {}, OK, "presence:list")),
        st.just(FuzzCase(ClientEvent.RECORD_VIEW, ref, OK, "record:view")),
        st.just(FuzzCase(ClientEvent.RECORD_LEAVE, ref, OK, "record:leave")),
        st.sampled_from(["start", "stop"]).map(
            lambda s: FuzzCase(ClientEvent.TYPING, {**ref, "state": s}, OK, "typing")),
        st.uuids().map(lambda u: FuzzCase(ClientEvent.AI_TASK_CANCEL, {"taskId": u.hex},
                                          REFUSED, "ai:task:cancel unknown task")),
    ]  # fmt: skip
    wrong_shape: list[Any] = ["x", [1], 3]
    invalid = [
        st.builds(lambda s, c: FuzzCase(ClientEvent.SYNC, {"cursors": {s: c}}, _INVALID,
                                        "sync bad cursor"), st.sampled_from(streams), bad_cursor),
        st.sampled_from([{}, {"cursors": []}, {"cursors": "x"}]).map(
            lambda p: FuzzCase(ClientEvent.SYNC, p, _INVALID, "sync bad shape")),
        st.sampled_from([{}, {"token": 5}, {"token": None}]).map(
            lambda p: FuzzCase(ClientEvent.AUTH_REFRESH, p, _INVALID, "auth:refresh no token")),
        st.builds(lambda e, p: FuzzCase(e, p, _shape_expectation(e), f"{e} not an object"),
                  st.sampled_from(sorted(CLIENT_EVENTS)), st.sampled_from(wrong_shape)),
        st.sampled_from([{"entityType": "yacht", "entityId": "x"}, {"entityType": entity_type},
                         {**ref, "entityId": 7}]).flatmap(
            lambda p: st.sampled_from([ClientEvent.RECORD_VIEW, ClientEvent.RECORD_EDIT_START,
                                       ClientEvent.TYPING]).map(
                lambda e: FuzzCase(e, p, REFUSED, f"{e} bad record reference"))),
        st.just(FuzzCase(ClientEvent.TYPING, {**ref, "state": "shouting"}, _INVALID,
                         "typing bad state")),
        st.sampled_from(["escrow:explode", "sync2", "x" * 40]).map(
            lambda e: FuzzCase(e, {}, ErrorCode.UNKNOWN_EVENT.value, "unknown event")),
    ]  # fmt: skip
    return st.one_of(*valid, *invalid)


def _shape_expectation(event: str) -> str:
    """LIM-5: not an object → VALIDATION_ERROR; §15: record:leave always acks ok."""
    return ANSWERED if event == ClientEvent.RECORD_LEAVE else _INVALID


def client_event_cases(
    records: Mapping[str, str], streams: tuple[str, ...]
) -> st.SearchStrategy[FuzzCase]:
    """Valid and invalid variations of every client event; half of them `mutate`."""
    return st.one_of(_mutate(records), _others(records, streams))


# Drawing ------------------------------------------------------------------------------------


class _Enough(Exception):
    """Raised inside the Hypothesis run once the time budget is spent."""


def draw_for(strategy: st.SearchStrategy[T], seed_value: int, seconds: float,
             max_examples: int = 2000, min_examples: int = 0) -> list[T]:  # fmt: skip
    """Examples of `strategy` drawn for `seconds` (in this thread) but at least `min_examples`,
    reproducibly: the same seed gives the same sequence, so a failing case is found again by
    its seed and index, however busy the machine."""
    drawn: list[T] = []
    deadline = time.monotonic() + seconds

    @seed(seed_value)
    @settings(max_examples=max_examples, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck), derandomize=False)  # fmt: skip
    @given(strategy)
    def collect(example: T) -> None:
        if time.monotonic() > deadline and len(drawn) >= min_examples:
            raise _Enough
        drawn.append(example)

    with _LOCK, contextlib.suppress(_Enough):  # Hypothesis keeps global state: one at a time
        collect()
    return drawn


_LOCK = threading.Lock()
