"""Typed data the client hands back: acks, server errors, received events, connect refusals.

Failures are data here: a refused request is an `Ack` with `ok=False` and an `ErrorInfo`,
a timed-out one is an `Ack` with `timed_out=True`, a refused connection a `ConnectFailure`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Ack",
    "ConnectFailure",
    "ConnectRefused",
    "DisconnectInfo",
    "ErrorInfo",
    "EventMatch",
    "ReceivedEvent",
    "matcher",
]


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """`{"code", "message", "details"?}` as the server sent it (TRN-5, REC-7)."""

    code: str
    message: str
    details: Mapping[str, Any] | None = None

    @classmethod
    def from_json(cls, data: Any) -> ErrorInfo | None:
        if not isinstance(data, Mapping):
            return None
        details = data.get("details")
        return cls(
            code=str(data.get("code", "")),
            message=str(data.get("message", "")),
            details=details if isinstance(details, Mapping) else None,
        )


@dataclass(frozen=True, slots=True)
class Ack:
    """The acknowledgement of one client event (TRN-5).

    `raw` is the first ack argument exactly as received (None when there was none);
    `well_formed` says whether it had the spec's shape.
    """

    event: str
    raw: Any
    elapsed_s: float
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return isinstance(self.raw, Mapping) and self.raw.get("ok") is True

    @property
    def data(self) -> Mapping[str, Any]:
        """The whole ack object (its fields other than `ok` are the answer)."""
        return self.raw if isinstance(self.raw, Mapping) else {}

    @property
    def error(self) -> ErrorInfo | None:
        if not isinstance(self.raw, Mapping) or self.raw.get("ok") is not False:
            return None
        return ErrorInfo.from_json(self.raw.get("error"))

    @property
    def code(self) -> str | None:
        error = self.error
        return error.code if error else None

    @property
    def well_formed(self) -> bool:
        if not isinstance(self.raw, Mapping):
            return False
        if self.raw.get("ok") is True:
            return True
        error = self.raw.get("error")
        return (
            self.raw.get("ok") is False
            and isinstance(error, Mapping)
            and isinstance(error.get("code"), str)
            and isinstance(error.get("message"), str)
        )


@dataclass(frozen=True, slots=True)
class ReceivedEvent:
    """One server→client event.

    `wire_bytes` is the UTF-8 length of the Socket.IO packet text as it arrived in one
    Engine.IO message (e.g. `2["escrow:updated",{...}]`): the packet type, namespace and the
    JSON of the event name and payload. Engine.IO's own one-byte type prefix and WebSocket
    framing are not counted.
    """

    name: str
    payload: Any
    received_at: float  # time.time()
    received_perf: float  # time.perf_counter()
    wire_bytes: int
    extra_args: tuple[Any, ...] = ()

    def get(self, key: str, default: Any = None) -> Any:
        return self.payload.get(key, default) if isinstance(self.payload, Mapping) else default

    @property
    def stream(self) -> str | None:
        stream = self.get("stream")
        return stream if isinstance(stream, str) else None

    @property
    def seq(self) -> int | None:
        seq = self.get("seq")
        return seq if isinstance(seq, int) and not isinstance(seq, bool) else None

    @property
    def event_id(self) -> str | None:
        event_id = self.get("eventId")
        return event_id if isinstance(event_id, str) else None


@dataclass(frozen=True, slots=True)
class ConnectFailure:
    """A refused or failed connection (AUTH-2 form: `{"message", "data": {"code"}}`).

    `code` is None when the server refused without one, or the transport failed before
    Socket.IO could answer (then `transport_error` says why).
    """

    message: str
    code: str | None = None
    raw: Any = None
    transport_error: str | None = None

    @classmethod
    def from_packet(cls, data: Any) -> ConnectFailure:
        if isinstance(data, Mapping):
            inner = data.get("data")
            code = inner.get("code") if isinstance(inner, Mapping) else None
            return cls(str(data.get("message", "")), code if isinstance(code, str) else None, data)
        return cls(str(data), None, data)


class ConnectRefused(Exception):
    """Raised by `RealtimeClient.connect()`; `try_connect()` returns the failure instead."""

    def __init__(self, failure: ConnectFailure) -> None:
        super().__init__(failure.message)
        self.failure = failure

    def __str__(self) -> str:
        code = f" ({self.failure.code})" if self.failure.code else ""
        return f"connection refused: {self.failure.message}{code}"


EventMatch = str | Callable[[ReceivedEvent], bool] | None


@dataclass(frozen=True, slots=True)
class DisconnectInfo:
    reason: str
    at: float  # time.time()
    perf: float  # time.perf_counter()


def matcher(match: EventMatch) -> Callable[[ReceivedEvent], bool]:
    if match is None:
        return lambda _event: True
    if isinstance(match, str):
        return lambda event: event.name == match
    return match
