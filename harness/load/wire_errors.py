"""The lean client's errors (`wire.LeanSocket`): what a connect or a call can fail with."""

from __future__ import annotations

__all__ = ["ConnectRefused", "TokenUnavailable", "WireError"]


class WireError(Exception):
    """The connection failed or broke (network, protocol or timeout)."""


class TokenUnavailable(WireError):
    """The user's token source failed (e.g. `--token-cmd`): the connect or call it was for
    was not made."""


class ConnectRefused(WireError):
    """The server answered CONNECT with CONNECT_ERROR (AUTH-2, LIM-3, LIM-6); a busy node
    (SERVER_BUSY) also says when to come back (`data.retryAfterMs`)."""

    def __init__(self, message: str, code: str | None, retry_after_ms: float | None = None) -> None:
        super().__init__(f"{message} ({code})")
        self.code = code
        self.retry_after_ms = retry_after_ms
