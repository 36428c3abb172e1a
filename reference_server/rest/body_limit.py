"""Refuse request bodies over maxPayloadBytes without holding them in memory (REC-7, LIM-4).

The middleware does not answer by itself: 401 takes precedence over 413 (§15), so it only
marks the request and stops reading; the route answers 413 after authenticating.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["BodyLimitMiddleware", "body_too_large"]

_FLAG = "crm.body_too_large"
_EMPTY_BODY: Message = {"type": "http.request", "body": b"", "more_body": False}


def body_too_large(scope: Scope) -> bool:
    return bool(scope.get(_FLAG))


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            scope[_FLAG] = True

            async def refuse() -> Message:
                return _EMPTY_BODY

            await self.app(scope, refuse, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            if scope.get(_FLAG):
                return _EMPTY_BODY
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    scope[_FLAG] = True  # chunked upload: stop at the first chunk past the limit
                    return _EMPTY_BODY
            return message

        await self.app(scope, counted, send)
