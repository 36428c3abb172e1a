"""A lean REST caller for agents: one geventhttpclient pool per process, shared by all users.

Per-user HTTP sessions would cost a connection and a buffer per user; the users of one
process share `concurrency` keep-alive connections instead, which is what a CRM's browser
fleet looks like to the server anyway (many short requests, few at a time per user).

An https:// node is called over TLS with the run's trust (`ConnectionOptions`); the run's
extra headers go on every request.
"""

from __future__ import annotations

import itertools
import json
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from http.client import HTTPException
from typing import Any, Protocol

import gevent
from gevent import socket as gsocket
from geventhttpclient import HTTPClient

from harness.client import ConnectionOptions

from .measure import LocalError
from .wire_target import WireTarget, resolved, tls_context

__all__ = ["NodeRestPools", "RestCaller", "RestPool", "RestResult", "RestUnanswered"]


class RestUnanswered(Exception):
    """A REST call that got no answer; `reason` is the action's error code (`TIMEOUT` or
    `CONNECTION_LOST`). Every transport failure is this one exception, so that an action
    records it instead of a traceback ending the user's task (geventhttpclient raises
    `HTTPConnectionClosed`, an `http.client.HTTPException` and no `OSError`, on a reset) —
    but a certificate the trust settings refuse, which is no lost connection: the run checks
    the target's certificate before any user starts, and says so in one line."""

    def __init__(self, reason: LocalError, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


@dataclass(frozen=True, slots=True)
class RestResult:
    status: int
    body: Any  # parsed JSON, or None for an empty or non-JSON body
    bytes_sent: int
    bytes_received: int

    @property
    def error_code(self) -> str:
        if isinstance(self.body, dict) and isinstance(self.body.get("error"), dict):
            return str(self.body["error"].get("code", ""))
        return "" if self.status < 400 else f"HTTP_{self.status}"


class RestCaller(Protocol):
    """What actions need of REST: one call, answered or refused (`RestPool`, `NodeRestPools`)."""

    def call(
        self,
        method: str,
        path: str,
        token: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> RestResult: ...


class RestPool:
    def __init__(
        self,
        url: str,
        concurrency: int = 64,
        timeout: float = 10.0,
        options: ConnectionOptions | None = None,
    ) -> None:
        target = WireTarget.parse(url)
        options = options or ConnectionOptions()
        self._base = target.base_path
        self._timeout = timeout
        self._headers = options.header_map()
        tls: dict[str, Any] = {}
        if target.tls:
            context = tls_context(options)
            # geventhttpclient would build its own context (certifi's CAs); the factory hands
            # it the run's, and `insecure` keeps it from turning hostname checks back on.
            tls = {"ssl": True, "ssl_context_factory": lambda **_: context,
                   "insecure": options.insecure}  # fmt: skip
        self._client = HTTPClient(
            target.host,
            target.port,
            concurrency=concurrency,
            connection_timeout=timeout,
            network_timeout=timeout,
            **tls,
        )
        # geventhttpclient resolves the host for every new pooled connection (in gevent's
        # thread pool); the address is looked up once per process instead (see `resolved`).
        pool = getattr(self._client, "_connection_pool", None)
        if pool is not None and hasattr(pool, "_resolve"):
            family, address = resolved(target.host, target.port)
            infos = [(family, gsocket.SOCK_STREAM, gsocket.IPPROTO_TCP, "", address)]
            pool._resolve = lambda: infos

    def call(
        self,
        method: str,
        path: str,
        token: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> RestResult:
        """One request; `RestUnanswered` when no answer came.

        The timeout bounds the whole call, waiting for a pooled connection included.
        """
        data = b"" if body is None else json.dumps(body).encode()
        sent_headers = {**self._headers, "Authorization": f"Bearer {token}", **(headers or {})}
        if body is not None:
            sent_headers["Content-Type"] = "application/json"
        try:
            with gevent.Timeout(self._timeout):
                response = self._client.request(method, self._base + path, data, sent_headers)
                try:
                    raw = response.read()
                finally:
                    response.release()
        except (gevent.Timeout, TimeoutError) as exc:
            raise RestUnanswered(LocalError.TIMEOUT, str(exc) or "timed out") from None
        except ssl.SSLCertVerificationError:
            raise  # a wrong trust setting, not a lost connection: the caller reports it once
        except (OSError, HTTPException) as exc:
            detail = f"{type(exc).__name__}: {exc}"
            raise RestUnanswered(LocalError.CONNECTION_LOST, detail) from None
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        header_bytes = sum(len(k) + len(v) + 4 for k, v in sent_headers.items())
        return RestResult(
            response.status_code,
            parsed,
            len(data) + header_bytes + len(method) + len(path) + 12,
            len(raw),
        )

    def close(self) -> None:
        self._client.close()


class NodeRestPools:
    """A `RestPool` per node of a cluster, called round robin: a change made through one node
    reaches sockets on the others (CLU-1). One node is one pool, so single-node runs pay
    nothing."""

    def __init__(
        self,
        urls: Sequence[str],
        concurrency: int = 64,
        timeout: float = 10.0,
        options: ConnectionOptions | None = None,
    ) -> None:
        if not urls:
            raise ValueError("NodeRestPools needs at least one node URL")
        per_node = max(1, -(-concurrency // len(urls)))
        self._pools = [RestPool(url, per_node, timeout, options) for url in urls]
        self._next = itertools.cycle(self._pools)

    def call(
        self,
        method: str,
        path: str,
        token: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> RestResult:
        return next(self._next).call(method, path, token, body, headers)

    def close(self) -> None:
        for pool in self._pools:
            pool.close()
