"""Where a node is and how the load engine's own sockets reach it (plain or TLS).

Shared by the lean Socket.IO socket (`wire`) and the REST pool (`rest`), which both speak to
the node directly over gevent sockets.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import urlsplit

import gevent.ssl
from gevent import socket as gsocket

from harness.client import ConnectionOptions

__all__ = ["WireTarget", "resolved", "tls_context"]


@dataclass(frozen=True, slots=True)
class WireTarget:
    """Where one node is and how to reach it: scheme, host, port, base path."""

    host: str
    port: int
    base_path: str
    tls: bool = False

    @classmethod
    def parse(cls, url: str) -> WireTarget:
        """An http:// or https:// URL; ValueError for anything else."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"expected an http(s)://host:port URL, got {url!r}")
        tls = parts.scheme == "https"
        port = parts.port or (443 if tls else 80)
        return cls(parts.hostname, port, parts.path.rstrip("/"), tls)

    @property
    def host_header(self) -> str:
        return f"{self.host}:{self.port}"


def tls_context(options: ConnectionOptions) -> gevent.ssl.SSLContext:
    """The run's TLS trust as a gevent context: its sockets yield to other greenlets while
    they wait, where a stdlib one would block every user of the process."""
    context: gevent.ssl.SSLContext = options.ssl_context(gevent.ssl.SSLContext)
    return context


@cache
def resolved(host: str, port: int) -> tuple[int, tuple[Any, ...]]:
    """(address family, socket address) of host:port, looked up once per process.

    gevent resolves every connect again, in a thread pool: a hand-off to a native thread and
    back for each of thousands of sockets (12 % of a generator's CPU in a 2,000-user run,
    issue 13). A target's address does not change during a run.
    """
    family, _, _, _, address = gsocket.getaddrinfo(host, port, 0, gsocket.SOCK_STREAM)[0]
    return family, address
