"""Faults of LIM-6 (overload, a SHOULD): a node past its connection budget that refuses new
connects the wrong way, or fails the sockets it holds. Each needs a node started with a small
budget (`--max-connections`), so test_overload_faults.py runs them, not the per-area tests.

Installed by `fault_server.py`; `fault_switch.broken` decides on every call whether a fault is
on.
"""

from __future__ import annotations

from typing import Any

import socketio
from fault_switch import Method, broken, patch

from harness.spec import ErrorCode
from reference_server.realtime.busy_handshake import BusyHandshake
from reference_server.realtime.gateway import RealtimeGateway

__all__ = ["FAULTS", "install"]

FAULTS: dict[str, str] = {
    "LIM-6/no-retry": "a busy node refuses SERVER_BUSY without data.retryAfterMs",
    "LIM-6/drops-held": "a busy node makes room by dropping the oldest socket it holds",
}

_BUSY = ErrorCode.SERVER_BUSY


def _busy(exc: socketio.exceptions.ConnectionRefusedError) -> bool:
    data = exc.error_args.get("data")
    return isinstance(data, dict) and data.get("code") == _BUSY


def install() -> None:
    def on_connect(orig: Method) -> Method:
        async def patched(self: RealtimeGateway, sid: str, *rest: Any) -> Any:
            try:
                return await orig(self, sid, *rest)
            except socketio.exceptions.ConnectionRefusedError as exc:
                if not _busy(exc):
                    raise
                if broken("LIM-6/no-retry"):
                    message = exc.error_args["message"]
                    raise socketio.exceptions.ConnectionRefusedError(
                        message, {"code": _BUSY}
                    ) from None
                if broken("LIM-6/drops-held") and self.sessions:
                    await self._sio.disconnect(next(iter(self.sessions)))
                raise

        return patched

    def at_handshake(orig: Method) -> Method:
        async def patched(self: BusyHandshake, *asgi: Any) -> Any:
            # A WebSocket connect is refused at its handshake, before `_on_connect`: with a
            # LIM-6 fault on, it is left to `_on_connect`, where the faults are.
            if any(broken(fault) for fault in FAULTS):
                return await self.app(*asgi)
            return await orig(self, *asgi)

        return patched

    patch(RealtimeGateway, "_on_connect", on_connect)
    patch(BusyHandshake, "__call__", at_handshake)
