"""Validation of create and update bodies (SPEC §4, REC-7, §15), driven by `harness.spec.FIELDS`.

A valid body comes back normalised (timestamps in TRN-4 form, integral floats of integer
fields as int); an invalid one raises `DomainError(VALIDATION_ERROR)` whose `details.field`
names the first bad field, or has no `details` when there is no field to name (a body that
is not an object, an empty update). Messages never echo a value (RED-4).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from typing import Any

from harness.spec import (
    ENTITY_TYPES,
    FIELDS,
    MAX_CUSTOM_FIELDS_BYTES,
    MAX_TAG_LENGTH,
    MAX_TAGS,
    READ_ONLY_FIELDS,
    ErrorCode,
    FieldKind,
    FieldSpec,
)

from .contracts import DomainError

__all__ = [
    "is_storable_key",
    "is_unicode_text",
    "normalise_timestamp",
    "validate_create",
    "validate_entity_type",
    "validate_update",
    "validation_error",
]

_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DIGITS4 = re.compile(r"[0-9]{4}")
# RFC 3339 date-time: an offset is mandatory (§15); `T`/`Z` may be lower case per RFC 3339 §5.6.
_RFC3339 = re.compile(
    r"([0-9]{4}-[0-9]{2}-[0-9]{2})[Tt]([0-9]{2}:[0-9]{2}:[0-9]{2})(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})"
)


def validation_error(message: str, field: str | None = None) -> DomainError:
    details = {"field": field} if field is not None else None
    return DomainError(ErrorCode.VALIDATION_ERROR, message, details)


def is_unicode_text(value: str) -> bool:
    """False for a string with lone surrogates (JSON's `"\\ud800"`): not text any store can keep."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def is_storable_key(value: str) -> bool:
    """Whether `value` can be a key column: Unicode text without NUL (PostgreSQL refuses NUL)."""
    return "\x00" not in value and is_unicode_text(value)


def validate_entity_type(entity_type: object, field: str = "entityType") -> str:
    if not isinstance(entity_type, str) or entity_type not in ENTITY_TYPES:
        raise validation_error(f"entity type must be one of {', '.join(ENTITY_TYPES)}", field)
    return entity_type


def normalise_timestamp(value: str) -> str:
    """An RFC 3339 date-time with an offset, in TRN-4 form; ValueError otherwise."""
    match = _RFC3339.fullmatch(value)
    if match is None:
        raise ValueError("not an RFC 3339 date-time with an offset")
    day, clock, fraction, offset = match.groups()
    micros = (fraction or ".0")[1:7].ljust(6, "0")  # beyond microseconds adds nothing to ms
    offset = "+00:00" if offset in ("Z", "z") else offset
    try:
        parsed = datetime.fromisoformat(f"{day}T{clock}.{micros}{offset}").astimezone(UTC)
    except OverflowError:  # an offset that moves year 1 (or 9999) out of range
        raise ValueError("date-time out of range") from None
    # %Y does not pad years below 1000; TRN-4 has four digits (found by the REST fuzz check)
    stamp = parsed.strftime("-%m-%dT%H:%M:%S.")
    return f"{parsed.year:04d}{stamp}{parsed.microsecond // 1000:03d}Z"


def _is_number(value: object) -> bool:
    # bool is an int subclass in Python but never a number on the wire.
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_bounds(spec: FieldSpec, value: float) -> None:
    if not math.isfinite(value):
        raise validation_error(f"{spec.name} must be a finite number", spec.name)
    if spec.minimum is not None:
        if spec.exclusive_min and value <= spec.minimum:
            raise validation_error(f"{spec.name} must be greater than {spec.minimum:g}", spec.name)
        if value < spec.minimum:
            raise validation_error(f"{spec.name} must be at least {spec.minimum:g}", spec.name)
    if spec.maximum is not None and value > spec.maximum:
        raise validation_error(f"{spec.name} must be at most {spec.maximum:g}", spec.name)


def _string(spec: FieldSpec, value: Any) -> Any:
    if not isinstance(value, str) or not is_unicode_text(value):
        raise validation_error(f"{spec.name} must be a string", spec.name)
    if spec.required and not value:
        raise validation_error(f"{spec.name} must not be empty", spec.name)
    if spec.max_length is not None and len(value) > spec.max_length:
        raise validation_error(
            f"{spec.name} must be at most {spec.max_length} characters", spec.name
        )
    return value


def _as_float(spec: FieldSpec, value: int | float) -> float:
    try:
        return float(value)
    except OverflowError:  # an integer literal of hundreds of digits is valid JSON
        raise validation_error(f"{spec.name} must be a finite number", spec.name) from None


def _number(spec: FieldSpec, value: Any) -> Any:
    if not _is_number(value):
        raise validation_error(f"{spec.name} must be a number", spec.name)
    _check_bounds(spec, _as_float(spec, value))
    return value


def _integer(spec: FieldSpec, value: Any) -> Any:
    # JSON has one number type: 42.0 is the integer 42, 42.5 is not an integer.
    if not _is_number(value):
        raise validation_error(f"{spec.name} must be an integer", spec.name)
    number = _as_float(spec, value)
    if math.isfinite(number) and isinstance(value, float) and not number.is_integer():
        raise validation_error(f"{spec.name} must be an integer", spec.name)
    _check_bounds(spec, number)
    return int(value)


def _date(spec: FieldSpec, value: Any) -> Any:
    if not isinstance(value, str) or _DATE.fullmatch(value) is None:
        raise validation_error(f"{spec.name} must be a date YYYY-MM-DD", spec.name)
    try:
        date.fromisoformat(value)
    except ValueError:
        raise validation_error(f"{spec.name} is not a calendar date", spec.name) from None
    return value


def _timestamp(spec: FieldSpec, value: Any) -> Any:
    if not isinstance(value, str):
        raise validation_error(f"{spec.name} must be an RFC 3339 date-time", spec.name)
    try:
        return normalise_timestamp(value)
    except (ValueError, OverflowError):  # overflow: year 9999 with a negative offset
        raise validation_error(
            f"{spec.name} must be an RFC 3339 date-time with an offset", spec.name
        ) from None


def _enum(spec: FieldSpec, value: Any) -> Any:
    if not isinstance(value, str) or value not in spec.choices:
        raise validation_error(f"{spec.name} must be one of {', '.join(spec.choices)}", spec.name)
    return value


def _tags(spec: FieldSpec, value: Any) -> Any:
    if not isinstance(value, list) or len(value) > MAX_TAGS:
        raise validation_error(f"{spec.name} must be a list of at most {MAX_TAGS}", spec.name)
    if not all(_short_text(tag, MAX_TAG_LENGTH) for tag in value):
        raise validation_error(
            f"{spec.name} must hold strings of at most {MAX_TAG_LENGTH} characters", spec.name
        )
    return list(value)


def _short_text(value: object, max_length: int) -> bool:
    return isinstance(value, str) and len(value) <= max_length and is_unicode_text(value)


def _object(spec: FieldSpec, value: Any) -> Any:
    if not isinstance(value, dict):
        raise validation_error(f"{spec.name} must be an object", spec.name)
    try:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        size = len(text.encode())
    except (TypeError, ValueError, RecursionError):
        raise validation_error(f"{spec.name} must be plain JSON", spec.name) from None
    if size > MAX_CUSTOM_FIELDS_BYTES:
        raise validation_error(
            f"{spec.name} must be at most {MAX_CUSTOM_FIELDS_BYTES} bytes as JSON", spec.name
        )
    return value


def _digits4(spec: FieldSpec, value: Any) -> Any:
    if not isinstance(value, str) or _DIGITS4.fullmatch(value) is None:
        raise validation_error(f"{spec.name} must be a string of 4 digits", spec.name)
    return value


_CHECKS: dict[FieldKind, Callable[[FieldSpec, Any], Any]] = {
    FieldKind.STRING: _string,
    FieldKind.NUMBER: _number,
    FieldKind.INTEGER: _integer,
    FieldKind.DATE: _date,
    FieldKind.TIMESTAMP: _timestamp,
    FieldKind.ENUM: _enum,
    FieldKind.TAGS: _tags,
    FieldKind.OBJECT: _object,
    FieldKind.DIGITS4: _digits4,
}


def _validate_fields(entity_type: str, body: object, *, creating: bool) -> dict[str, Any]:
    if not isinstance(body, Mapping):
        raise validation_error("the body must be a JSON object")
    specs = FIELDS[validate_entity_type(entity_type)]
    clean: dict[str, Any] = {}
    for name, value in body.items():
        spec = specs.get(name) if isinstance(name, str) else None
        if spec is None:
            kind = "read-only" if name in READ_ONLY_FIELDS else "unknown"
            raise validation_error(f"{name} is a {kind} field", str(name))
        if spec.create_only and not creating:
            raise validation_error(f"{name} can be set at creation only", name)
        if value is None:
            if spec.required:
                raise validation_error(f"{name} is required", name)
            clean[name] = None  # null clears an optional field (§15)
            continue
        clean[name] = _CHECKS[spec.kind](spec, value)
    return clean


def validate_create(entity_type: str, body: object) -> dict[str, Any]:
    """The fields a new record starts with: nulls dropped, `visibility` defaulted to team."""
    clean = _validate_fields(entity_type, body, creating=True)
    for spec in FIELDS[entity_type].values():
        if spec.required and spec.name not in clean:
            raise validation_error(f"{spec.name} is required", spec.name)
    fields = {name: value for name, value in clean.items() if value is not None}
    fields.setdefault("visibility", "team")
    return fields


def validate_update(entity_type: str, body: object) -> dict[str, Any]:
    """The fields an update sets; a None value clears that (optional) field."""
    clean = _validate_fields(entity_type, body, creating=False)
    if not clean:
        raise validation_error("an update must set at least one field")
    return clean
