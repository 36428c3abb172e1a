"""Field validation, table-driven over every rule of SPEC §4, REC-7 and §15."""

from __future__ import annotations

from typing import Any

import pytest

from harness.spec import FIELDS, MAX_CUSTOM_FIELDS_BYTES, MAX_TAG_LENGTH, MAX_TAGS, ErrorCode
from reference_server.domain.contracts import DomainError
from reference_server.domain.validation import (
    normalise_timestamp,
    validate_create,
    validate_update,
)

MINIMAL: dict[str, dict[str, Any]] = {
    "escrow": {"address": "1 Main St"},
    "listing": {"address": "2 Oak Ave"},
    "client": {"name": "Pat"},
    "appointment": {"title": "Showing", "startsAt": "2026-11-26T12:00:00Z"},
    "lead": {"name": "Sam"},
}

# (entity type, field, value): each alone must be refused naming that field.
BAD_VALUES: list[tuple[str, str, Any]] = [
    # types; bool is not a number
    ("escrow", "purchasePrice", True),
    ("escrow", "purchasePrice", "100"),
    ("escrow", "myCommission", False),
    ("lead", "score", True),
    ("lead", "score", 5.5),
    ("lead", "score", "5"),
    ("escrow", "address", 42),
    ("client", "email", ["a@b"]),
    ("escrow", "notes", {"text": "x"}),
    # ranges
    ("escrow", "purchasePrice", 0),
    ("escrow", "purchasePrice", -1),
    ("listing", "listPrice", 0.0),
    ("escrow", "myCommission", -0.01),
    ("escrow", "grossCommission", -5),
    ("listing", "listingCommission", -1),
    ("lead", "score", -1),
    ("lead", "score", 101),
    ("escrow", "purchasePrice", float("inf")),
    ("escrow", "purchasePrice", float("nan")),
    ("escrow", "purchasePrice", 10**400),
    ("lead", "score", 10**400),
    ("lead", "score", float("inf")),
    ("lead", "score", 1e300),
    # enums
    ("escrow", "status", "OPEN"),
    ("escrow", "status", "active"),
    ("listing", "status", "open"),
    ("lead", "status", 1),
    ("escrow", "visibility", "public"),
    # string lengths, in code points; required strings non-empty
    ("escrow", "address", "x" * 501),
    ("listing", "address", "é" * 501),
    ("client", "name", "😀" * 501),
    ("appointment", "title", "t" * 501),
    ("escrow", "notes", "n" * 10001),
    ("escrow", "address", ""),
    ("client", "name", ""),
    # tags
    ("escrow", "tags", "hot"),
    ("escrow", "tags", ["t"] * (MAX_TAGS + 1)),
    ("escrow", "tags", ["x" * (MAX_TAG_LENGTH + 1)]),
    ("escrow", "tags", [1]),
    ("escrow", "tags", [None]),
    # customFields
    ("escrow", "customFields", []),
    ("escrow", "customFields", "{}"),
    ("escrow", "customFields", {"k": "x" * MAX_CUSTOM_FIELDS_BYTES}),
    ("escrow", "customFields", {"k": float("nan")}),
    # ssnLast4
    ("client", "ssnLast4", 1234),
    ("client", "ssnLast4", "123"),
    ("client", "ssnLast4", "12345"),
    ("client", "ssnLast4", "12a4"),
    ("client", "ssnLast4", "١٢٣٤"),  # Arabic-Indic digits are not the 4 digits meant
    # dates
    ("escrow", "closingDate", "2026-13-01"),
    ("escrow", "closingDate", "2026-02-30"),
    ("escrow", "closingDate", "2026-1-5"),
    ("escrow", "closingDate", "2026-11-26T00:00:00Z"),
    ("escrow", "closingDate", 20261126),
    # timestamps: RFC 3339 with an offset
    ("appointment", "startsAt", "2026-11-26T12:00:00"),
    ("appointment", "startsAt", "2026-11-26 12:00:00Z"),
    ("appointment", "startsAt", "2026-11-26"),
    ("appointment", "startsAt", "2026-11-26T12:00Z"),
    ("appointment", "startsAt", "2026-11-26T25:00:00Z"),
    ("appointment", "endsAt", "yesterday"),
    ("appointment", "startsAt", "9999-12-31T23:59:59-01:00"),
    ("appointment", "startsAt", "0000-01-01T00:00:00Z"),
    ("appointment", "endsAt", 1790000000),
    # lone surrogates (JSON "\\ud800") are not text any store can keep
    ("escrow", "address", "1 Main \ud800"),
    ("escrow", "notes", "\udc80"),
    ("escrow", "tags", ["ok", "\ud800"]),
    ("escrow", "customFields", {"k": "\ud800"}),
    ("escrow", "customFields", {"\ud800": 1}),
    # strings that must be strings
    ("appointment", "clientId", 7),
    ("lead", "source", False),
]


def refusal(call: Any, *args: Any) -> DomainError:
    with pytest.raises(DomainError) as caught:
        call(*args)
    assert caught.value.code is ErrorCode.VALIDATION_ERROR
    return caught.value


@pytest.mark.parametrize(("entity_type", "field", "value"), BAD_VALUES)
def test_bad_value_is_refused_naming_the_field(entity_type: str, field: str, value: Any) -> None:
    """REC-7, §15: wrong type, range, enum, length, tags, customFields, ssnLast4, dates."""
    body = {**MINIMAL[entity_type], field: value}
    assert refusal(validate_create, entity_type, body).details == {"field": field}
    if field != "visibility":
        patch = {field: value}
        assert refusal(validate_update, entity_type, patch).details == {"field": field}


@pytest.mark.parametrize(
    ("entity_type", "field", "value"),
    [
        ("escrow", "purchasePrice", 0.01),
        ("escrow", "purchasePrice", 450000),
        ("escrow", "myCommission", 0),
        ("lead", "score", 0),
        ("lead", "score", 100),
        ("escrow", "address", "x" * 500),
        ("client", "name", "😀" * 500),
        ("escrow", "notes", ""),
        ("escrow", "notes", "n" * 10000),
        ("client", "email", ""),
        ("escrow", "tags", []),
        ("escrow", "tags", ["t"] * MAX_TAGS),
        ("escrow", "tags", ["é" * MAX_TAG_LENGTH]),
        ("escrow", "customFields", {}),
        ("escrow", "customFields", {"k": "x" * (MAX_CUSTOM_FIELDS_BYTES - 8)}),
        ("client", "ssnLast4", "0042"),
        ("escrow", "closingDate", "2028-02-29"),
        ("escrow", "status", "pending"),
        ("listing", "status", "withdrawn"),
    ],
)
def test_good_value_is_accepted_unchanged(entity_type: str, field: str, value: Any) -> None:
    """§4: boundary values that are allowed come back as given."""
    assert validate_create(entity_type, {**MINIMAL[entity_type], field: value})[field] == value
    assert validate_update(entity_type, {field: value}) == {field: value}


def test_custom_fields_limit_counts_utf8_bytes() -> None:
    """§4: customFields ≤ 8192 bytes as JSON — bytes, not characters."""
    overhead = len('{"k":""}')
    fits = {"k": "x" * (MAX_CUSTOM_FIELDS_BYTES - overhead)}
    assert validate_update("escrow", {"customFields": fits})
    too_big_in_bytes = {"k": "é" * ((MAX_CUSTOM_FIELDS_BYTES - overhead) // 2 + 1)}
    assert refusal(validate_update, "escrow", {"customFields": too_big_in_bytes}).details == {
        "field": "customFields"
    }


def test_integral_float_is_an_integer() -> None:
    """§4: JSON has one number type; 42.0 is the integer 42."""
    assert validate_update("lead", {"score": 42.0}) == {"score": 42}
    assert isinstance(validate_update("lead", {"score": 42.0})["score"], int)


@pytest.mark.parametrize(
    ("given", "wire"),
    [
        ("2026-11-26T12:00:00Z", "2026-11-26T12:00:00.000Z"),
        ("2026-11-26t12:00:00z", "2026-11-26T12:00:00.000Z"),
        ("2026-11-26T14:30:00.5+02:00", "2026-11-26T12:30:00.500Z"),
        ("2026-11-26T00:00:00.123456789-05:30", "2026-11-26T05:30:00.123Z"),
        ("2026-12-31T23:59:59.999-01:00", "2027-01-01T00:59:59.999Z"),
        ("0260-11-28T04:24:18+00:00", "0260-11-28T04:24:18.000Z"),  # four digits (fuzz find)
    ],
)
def test_timestamps_are_normalised_to_wire_form(given: str, wire: str) -> None:
    """§15, TRN-4: RFC 3339 with any offset in, ISO-8601 UTC with milliseconds out."""
    assert normalise_timestamp(given) == wire
    body = {**MINIMAL["appointment"], "startsAt": given, "endsAt": given}
    clean = validate_create("appointment", body)
    assert clean["startsAt"] == clean["endsAt"] == wire


@pytest.mark.parametrize("given", ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00"])
def test_timestamps_out_of_range_in_utc_are_refused(given: str) -> None:
    """An offset that moves the instant out of years 1-9999 is a VALIDATION_ERROR, not a crash
    (the REST fuzz check sends such date-times)."""
    with pytest.raises(ValueError):
        normalise_timestamp(given)


@pytest.mark.parametrize("entity_type", sorted(FIELDS))
def test_every_required_field_is_required(entity_type: str) -> None:
    """REC-7, §15: missing or null required field → VALIDATION_ERROR naming it."""
    for name, spec in FIELDS[entity_type].items():
        if not spec.required:
            continue
        missing = {k: v for k, v in MINIMAL[entity_type].items() if k != name}
        assert refusal(validate_create, entity_type, missing).details == {"field": name}
        nulled = {**MINIMAL[entity_type], name: None}
        assert refusal(validate_create, entity_type, nulled).details == {"field": name}
        assert refusal(validate_update, entity_type, {name: None}).details == {"field": name}


def test_null_clears_optional_fields() -> None:
    """§15: null clears an optional field (update); at creation it is simply absent."""
    assert validate_update("escrow", {"notes": None, "tags": None}) == {"notes": None, "tags": None}
    created = validate_create("escrow", {**MINIMAL["escrow"], "notes": None, "visibility": None})
    assert "notes" not in created and created["visibility"] == "team"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"address": "x", "bogus": 1}, "bogus"),
        ({"address": "x", "listPrice": 5}, "listPrice"),  # a listing's field on an escrow
        ({"address": "x", "id": "r-1"}, "id"),
        ({"address": "x", "version": 3}, "version"),
        ({"address": "x", "ownerId": "u-2"}, "ownerId"),
        ({"address": "x", "teamId": "t-2"}, "teamId"),
        ({"address": "x", "brokerId": "b-2"}, "brokerId"),
        ({"address": "x", "createdAt": "2026-11-26T12:00:00Z"}, "createdAt"),
        ({"address": "x", "updatedAt": "2026-11-26T12:00:00Z"}, "updatedAt"),
        ({"address": "x", "archived": True}, "archived"),
    ],
)
def test_unknown_and_read_only_fields_are_refused(body: dict[str, Any], field: str) -> None:
    """REC-7: unknown and read-only fields, at creation and in updates."""
    assert refusal(validate_create, "escrow", body).details == {"field": field}
    patch = {k: v for k, v in body.items() if k != "address"}
    assert refusal(validate_update, "escrow", patch).details == {"field": field}


def test_visibility_is_set_at_creation_only() -> None:
    """REC-7, §4: visibility defaults to team, may be chosen at creation, never updated."""
    assert validate_create("lead", {"name": "x"})["visibility"] == "team"
    for choice in ("team", "broker", "private"):
        assert validate_create("lead", {"name": "x", "visibility": choice})["visibility"] == choice
    for choice in ("team", "private"):
        error = refusal(validate_update, "lead", {"visibility": choice})
        assert error.details == {"field": "visibility"}


@pytest.mark.parametrize("body", [None, [], ["address"], "address", 3, True])
def test_body_not_an_object_names_no_field(body: Any) -> None:
    """REC-7, §15: a body that is not an object is refused without details.field."""
    assert refusal(validate_create, "escrow", body).details is None
    assert refusal(validate_update, "escrow", body).details is None


def test_empty_update_is_refused() -> None:
    """§15: an empty PATCH {} is a VALIDATION_ERROR."""
    assert refusal(validate_update, "escrow", {}).code is ErrorCode.VALIDATION_ERROR


def test_several_bad_fields_name_one_of_them() -> None:
    """§15: when several fields are invalid, details.field names one of them."""
    error = refusal(validate_update, "lead", {"score": 500, "status": "nope", "bogus": 1})
    assert error.details is not None and error.details["field"] in {"score", "status", "bogus"}


def test_messages_never_echo_values() -> None:
    """RED-4: an error message never carries the (possibly sensitive) value sent."""
    error = refusal(validate_update, "client", {"ssnLast4": "SECRET-991"})
    assert "SECRET-991" not in error.message and "SECRET-991" not in str(error.to_json())


def test_custom_fields_nested_beyond_json_depth_is_refused() -> None:
    """LIM-5: input that cannot even be re-encoded is a VALIDATION_ERROR, not a crash."""
    deep: dict[str, object] = {}
    inner = deep
    for _ in range(50_000):
        inner["a"] = {}
        inner = inner["a"]  # type: ignore[assignment]
    error = refusal(validate_update, "escrow", {"customFields": deep})
    assert error.details == {"field": "customFields"}
