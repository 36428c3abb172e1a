"""`Transcript`: the last frames a check's clients sent and received, tokens elided.

A conformance failure carries it as evidence (what went over the wire just before the check
gave up). Clients are handed one (`transcript=`) and feed it as they talk: Socket.IO packets
as they are encoded on the wire, REST requests and answers as one line each. It is bounded,
so a long check keeps only its last frames, and every frame is cut to a readable length.
Tokens never reach it: JWTs, `Authorization` values and the clients' own tokens are replaced
before a frame is stored.
"""

from __future__ import annotations

import json
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import httpx

__all__ = ["ELIDED", "Frame", "Transcript", "elide_tokens"]

ELIDED = "<elided>"
DEFAULT_FRAMES = 40  # enough to see the exchange that failed, small enough for a report
_FRAME_CHARS = 1500
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*")
_AUTHORIZATION = re.compile(r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?)[^\"'\n,}]+")
_SECRET_HEADERS = ("authorization", "cookie", "x-api-key", "proxy-authorization")

Direction = Literal["sent", "received"]


def elide_tokens(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with every JWT, every `Authorization` value and each of `secrets` replaced."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, ELIDED)
    text = _JWT.sub(ELIDED, text)
    return _AUTHORIZATION.sub(lambda m: m.group(1) + ELIDED, text)


@dataclass(frozen=True, slots=True)
class Frame:
    """One thing that went over the wire: `channel` says which client (and transport)."""

    at: float  # time.time()
    direction: Direction
    channel: str  # e.g. "socket u-12" or "http"
    text: str

    def to_json(self) -> dict[str, Any]:
        stamp = time.strftime("%H:%M:%S", time.gmtime(self.at)) + f".{int(self.at % 1 * 1000):03d}"
        return {"at": stamp, "direction": self.direction, "channel": self.channel,
                "text": self.text}  # fmt: skip


class Transcript:
    """The last `limit` frames of one check's clients, in the order they happened."""

    def __init__(self, limit: int = DEFAULT_FRAMES) -> None:
        self._frames: deque[Frame] = deque(maxlen=limit)
        self._secrets: set[str] = set()
        self.dropped = 0  # frames that fell off the front

    def add_secret(self, secret: str | None) -> None:
        """A token that must never show, even when it is not a JWT (a token command's)."""
        if secret:
            self._secrets.add(secret)

    def record(self, direction: Direction, channel: str, text: str) -> None:
        # Cut before eliding too, so a 64 KiB payload costs no more than a few KiB of regex;
        # whatever straddles that first cut lies past the second and is dropped with it.
        clean = elide_tokens(text[: _FRAME_CHARS * 4], self._secrets)
        if len(clean) > _FRAME_CHARS:
            clean = clean[:_FRAME_CHARS] + f"… ({len(text)} chars)"
        if len(self._frames) == self._frames.maxlen:
            self.dropped += 1
        self._frames.append(Frame(time.time(), direction, channel, clean))

    def http_request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: Any,
        *,
        channel: str = "http",
    ) -> None:
        shown = {k: (ELIDED if k.lower() in _SECRET_HEADERS else v) for k, v in headers.items()}
        kept = {k: v for k, v in shown.items() if k.lower() not in _QUIET_HEADERS}
        head = f"{method} {url}"
        if kept:
            head += " " + json.dumps(kept, ensure_ascii=False)
        self.record("sent", channel, head + (f"\n{_text(body)}" if body not in (None, b"") else ""))

    def http_response(self, method: str, url: str, status: int, body: Any) -> None:
        line = f"{status} ← {method} {url}"
        self.record("received", "http", line + (f"\n{_text(body)}" if body is not None else ""))

    def httpx_hooks(self) -> dict[str, list[Callable[[Any], Awaitable[None]]]]:
        """`event_hooks` for a raw `httpx.AsyncClient`, so its traffic is recorded too."""

        async def on_request(request: httpx.Request) -> None:
            self.http_request(request.method, str(request.url), request.headers, request.content)

        async def on_response(response: httpx.Response) -> None:
            await response.aread()
            request = response.request
            self.http_response(request.method, str(request.url), response.status_code,
                               response.text[:_FRAME_CHARS] or None)  # fmt: skip

        return {"request": [on_request], "response": [on_response]}

    def frames(self) -> list[Frame]:
        return list(self._frames)

    def to_json(self) -> list[dict[str, Any]]:
        return [frame.to_json() for frame in self._frames]


# Headers every request carries: they say nothing about what the check did.
_QUIET_HEADERS = ("content-type", "content-length", "accept", "accept-encoding", "user-agent",
                  "host", "connection")  # fmt: skip


def _text(body: Any) -> str:
    if isinstance(body, bytes):
        return body.decode("utf-8", errors="replace")
    if isinstance(body, str):
        return body
    return json.dumps(body, ensure_ascii=False, default=repr)
