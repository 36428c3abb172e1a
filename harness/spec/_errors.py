"""Error codes (SPEC §13) and the HTTP status each one answers with."""

from __future__ import annotations

import enum

__all__ = ["AUTH_MESSAGES", "HTTP_STATUS", "SOCKET_ONLY_CODES", "ErrorCode"]


class ErrorCode(enum.StrEnum):
    AUTH_REQUIRED = "AUTH_REQUIRED"
    AUTH_INVALID = "AUTH_INVALID"
    AUTH_EXPIRED = "AUTH_EXPIRED"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    VALIDATION_ERROR = "VALIDATION_ERROR"
    VERSION_CONFLICT = "VERSION_CONFLICT"
    LOCKED = "LOCKED"
    RATE_LIMITED = "RATE_LIMITED"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    TOO_MANY_CONNECTIONS = "TOO_MANY_CONNECTIONS"
    UNKNOWN_EVENT = "UNKNOWN_EVENT"
    TASK_FINISHED = "TASK_FINISHED"
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
    SERVER_BUSY = "SERVER_BUSY"
    INTERNAL = "INTERNAL"


HTTP_STATUS: dict[ErrorCode, int] = {
    ErrorCode.AUTH_REQUIRED: 401,
    ErrorCode.AUTH_INVALID: 401,
    ErrorCode.AUTH_EXPIRED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.VALIDATION_ERROR: 400,
    ErrorCode.VERSION_CONFLICT: 409,
    ErrorCode.TASK_FINISHED: 409,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.IDEMPOTENCY_KEY_REUSED: 422,
    ErrorCode.LOCKED: 423,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.INTERNAL: 500,
    ErrorCode.SERVER_BUSY: 503,
}

SOCKET_ONLY_CODES = frozenset({ErrorCode.TOO_MANY_CONNECTIONS, ErrorCode.UNKNOWN_EVENT})

# CONNECT_ERROR messages (AUTH-2, LIM-3): the exact wording is part of the contract.
AUTH_MESSAGES: dict[ErrorCode, str] = {
    ErrorCode.AUTH_REQUIRED: "Authentication required",
    ErrorCode.AUTH_INVALID: "Invalid token",
    ErrorCode.AUTH_EXPIRED: "Token expired",
    ErrorCode.TOO_MANY_CONNECTIONS: "Too many connections",
    ErrorCode.SERVER_BUSY: "Server busy",  # LIM-6 (spec 1.1)
}
