"""REST under overload (LIM-6): while the node's loop runs over its lag budget, a request is
answered 503 `SERVER_BUSY` with `Retry-After` before any of it is read or checked.

Discovery, health and metrics stay answered: they are cheap, and they are how a load
balancer or an operator sees that the node is alive and why it refuses.
"""

from __future__ import annotations

import json
import math

from starlette.types import ASGIApp, Receive, Scope, Send

from harness.spec import AUTH_MESSAGES, HEALTH_PATH, HTTP_STATUS, INFO_PATH, METRICS_PATH, ErrorCode

from ..metrics import ServerMetrics
from ..shedding import LoadShedder

__all__ = ["BusyMiddleware"]

_ALWAYS_ANSWERED = frozenset({HEALTH_PATH, INFO_PATH, METRICS_PATH})
_BUSY = ErrorCode.SERVER_BUSY


def busy_body(retry_after_ms: int) -> bytes:
    error = {"code": _BUSY.value, "message": AUTH_MESSAGES[_BUSY],
             "details": {"retryAfterMs": retry_after_ms}}  # fmt: skip
    return json.dumps({"error": error}).encode()


class BusyMiddleware:
    def __init__(self, app: ASGIApp, shedder: LoadShedder, metrics: ServerMetrics) -> None:
        self.app = app
        self.shedder = shedder
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in _ALWAYS_ANSWERED:
            await self.app(scope, receive, send)
            return
        retry_after_ms = self.shedder.refuse_request()
        if retry_after_ms is None:
            await self.app(scope, receive, send)
            return
        self.metrics.refused_busy("rest")
        body = busy_body(retry_after_ms)
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"retry-after", str(math.ceil(retry_after_ms / 1000)).encode()),
        ]
        await send({"type": "http.response.start", "status": HTTP_STATUS[_BUSY],
                    "headers": headers})  # fmt: skip
        await send({"type": "http.response.body", "body": body})
