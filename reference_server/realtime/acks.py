"""Ack shapes (TRN-5): `{"ok": true, ...}` or `{"ok": false, "error": {code, message, ...}}`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.spec import ErrorCode

from ..domain.contracts import DomainError

__all__ = ["Ack", "ack_error", "ack_ok", "validation_error"]

Ack = dict[str, Any]


def ack_ok(**fields: Any) -> Ack:
    return {"ok": True, **fields}


def ack_error(error: DomainError) -> Ack:
    return {"ok": False, "error": error.to_json()}


def validation_error(message: str, field: str | None = None) -> DomainError:
    details: Mapping[str, Any] | None = {"field": field} if field is not None else None
    return DomainError(ErrorCode.VALIDATION_ERROR, message, details)
