"""How to reach a real deployment: TLS trust, extra headers, where Socket.IO is mounted.

`ConnectionOptions` is what every connection to the target shares besides its token; every
client (the conformance clients, the load engine's lean socket and REST pool, the info
fetch) takes it. `TargetConnection` is the whole of it with the node URLs and the token
source: what `conform`, `load`, `sweep`, `capacity` and the pytest plugin carry.

Certificates are verified by default against the system's trust store; `ca_cert` trusts a
private CA instead; `insecure` verifies nothing (the CLI warns on every run).
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from harness._exceptions import UsageError
from harness.spec import SOCKETIO_PATH

from ._token_sources import TokenSource, token_source

__all__ = [
    "INSECURE_WARNING",
    "ConnectionOptions",
    "TargetConnection",
    "connection_options",
    "normalize_socketio_path",
    "parse_header",
    "target_connection",
]

INSECURE_WARNING = (
    "WARNING: --insecure: TLS certificates are NOT verified; anyone on the path can read "
    "and change this run's traffic, tokens included"
)


def parse_header(text: str) -> tuple[str, str]:
    """`'Name: value'` → (name, value); UsageError for anything else."""
    name, colon, value = text.partition(":")
    name = name.strip()
    if not colon or not name or any(c.isspace() for c in name):
        raise UsageError(f"--header {text!r}: expected 'Name: value'")
    if any(c in value for c in "\r\n"):
        raise UsageError(f"--header {name}: a header value cannot hold a line break")
    return name, value.strip()


def normalize_socketio_path(path: str) -> str:
    """`socket.io`, `/rt/socket.io` or `/rt/socket.io/` → `/…/` form; UsageError if empty."""
    stripped = path.strip().strip("/")
    if not stripped or "?" in stripped or "#" in stripped:
        raise UsageError(f"--socketio-path {path!r}: expected a path like /socket.io/")
    return f"/{stripped}/"


_CONTEXTS: dict[tuple[str | None, bool, type[ssl.SSLContext]], ssl.SSLContext] = {}


def _context(
    ca_cert: str | None, insecure: bool, context_class: type[ssl.SSLContext]
) -> ssl.SSLContext:
    key = (ca_cert, insecure, context_class)
    if key not in _CONTEXTS:
        _CONTEXTS[key] = _new_context(ca_cert, insecure, context_class)
    return _CONTEXTS[key]


def _new_context(
    ca_cert: str | None, insecure: bool, context_class: type[ssl.SSLContext]
) -> ssl.SSLContext:
    # What ssl.create_default_context() makes, built on `context_class`: gevent's subclass for
    # the load engine's cooperative sockets (the stdlib function always makes the stdlib's).
    context = context_class(ssl.PROTOCOL_TLS_CLIENT)
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if ca_cert is None:
        context.load_default_certs()
        return context
    try:
        context.load_verify_locations(cafile=ca_cert)
    except FileNotFoundError:
        raise UsageError(f"--ca-cert {ca_cert}: no such file") from None
    except (ssl.SSLError, ValueError, OSError) as exc:
        raise UsageError(f"--ca-cert {ca_cert}: not a PEM CA certificate ({exc})") from None
    return context


@dataclass(frozen=True, slots=True)
class ConnectionOptions:
    ca_cert: str | None = None
    insecure: bool = False
    headers: tuple[tuple[str, str], ...] = ()
    socketio_path: str = SOCKETIO_PATH

    def __post_init__(self) -> None:
        object.__setattr__(self, "socketio_path", normalize_socketio_path(self.socketio_path))
        if self.ca_cert is not None and self.insecure:
            raise UsageError("--ca-cert and --insecure: trust a CA or verify nothing, not both")
        if self.ca_cert is not None:
            self.ssl_context()  # a bad CA file is a usage error now, not per call

    def ssl_context(self, context_class: type[ssl.SSLContext] | None = None) -> ssl.SSLContext:
        """Shared by every connection of the process (one per CA file and class), as clients
        expect. `context_class`: a subclass such as `gevent.ssl.SSLContext`."""
        return _context(self.ca_cert, self.insecure, context_class or ssl.SSLContext)

    def header_map(self) -> dict[str, str]:
        return dict(self.headers)

    def check_urls(self, urls: tuple[str, ...] | list[str]) -> None:
        """Every URL http(s)://host[:port][/base]; --ca-cert/--insecure need https."""
        for url in urls:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise UsageError(f"--url must be an http:// or https:// URL, got {url!r}")
            if parts.scheme == "http" and (self.ca_cert or self.insecure):
                what = "--ca-cert" if self.ca_cert else "--insecure"
                raise UsageError(f"{what} is for https:// targets; {url} is plain http")


@dataclass(frozen=True, slots=True)
class TargetConnection:
    """The server under test as the commands reach it: its nodes, how, and whose tokens."""

    urls: tuple[str, ...]
    tokens: TokenSource
    options: ConnectionOptions = field(default_factory=ConnectionOptions)

    def __post_init__(self) -> None:
        object.__setattr__(self, "urls", tuple(u.rstrip("/") for u in self.urls))
        self.options.check_urls(self.urls)

    @property
    def url(self) -> str:
        return self.urls[0]


def connection_options(values: Mapping[str, Any]) -> ConnectionOptions:
    headers = tuple(parse_header(h) for h in values.get("header") or ())
    return ConnectionOptions(
        ca_cert=values.get("ca_cert") or None,
        insecure=bool(values.get("insecure")),
        headers=headers,
        socketio_path=values.get("socketio_path") or SOCKETIO_PATH,
    )


def target_connection(
    urls: Sequence[str],
    values: Mapping[str, Any],
    *,
    tokens: TokenSource | None = None,
    env: Mapping[str, str] | None = None,
) -> TargetConnection:
    """Check every value and build the connection; `tokens` given (a bundled server's own
    secret) replaces the token options."""
    options = connection_options(values)
    return TargetConnection(tuple(urls), tokens or token_source(values, env), options)
