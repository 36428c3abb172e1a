"""The bundled reference server, as the harness sees it: one seam, one small interface.

The harness checks any server by URL and needs none of the reference server's code. It
starts one itself only for convenience (`conform`, `load`, `sweep`, `capacity` without
`--url`, a local cluster for `--nodes N`, the `serve` command), and then only through this
module: the server registers an object under the entry point group `crm_harness.bundled_server`
(the `reference_server` package registers `reference`), and `bundled_server()` loads it and
hands back the `BundledServer` interface below, with the server's own errors turned into the
harness's `UsageError` / `TargetError`.

`pip install crm-realtime-harness` installs the harness without the server's dependencies; a
command that needs the server then says, in one line, which extra to install (`MissingExtra`).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from ._exceptions import TargetError, UsageError
from .spec import Heartbeat, Limits

__all__ = [
    "CLUSTER_EXTRA",
    "ENTRY_POINT_GROUP",
    "NO_IDENTITY_PROVIDER",
    "SERVER_EXTRA",
    "BundledServer",
    "ClusterHandle",
    "MissingExtra",
    "ServerHandle",
    "ServerProvider",
    "bundled_server",
    "install_hint",
    "unavailable_reason",
    "verifying",
]

ENTRY_POINT_GROUP = "crm_harness.bundled_server"
BUNDLED_NAME = "reference"
SERVER_EXTRA = "server"  # FastAPI, uvicorn, aiosqlite: one node on SQLite
CLUSTER_EXTRA = "cluster"  # server + asyncpg + redis: --nodes N, Redis, PostgreSQL
_DISTRIBUTION = "crm-realtime-harness"
NO_IDENTITY_PROVIDER = "--token-cmd needs --url: the bundled server has no identity provider"


class ServerHandle(Protocol):
    """One running node, stopped by `close()`; `kill()` then `start()` is a crash and a
    restart on the same port and data (CLU-2)."""

    @property
    def url(self) -> str: ...

    def start(self) -> object: ...

    def kill(self) -> None: ...

    def close(self) -> None: ...


class ClusterHandle(Protocol):
    """The nodes of one local cluster, stopped together by `stop()`."""

    @property
    def urls(self) -> list[str]: ...

    def stop(self) -> None: ...


@runtime_checkable
class ServerProvider(Protocol):
    """What a bundled server registers under `ENTRY_POINT_GROUP` (`reference_server.bundled`).

    Its methods raise its own errors: `settings_error` for bad options (the harness's
    `UsageError`) and `startup_error` for a server or backend that could not start
    (`TargetError`).
    """

    settings_error: type[Exception]
    startup_error: type[Exception]

    def missing_modules(self, *, cluster: bool) -> list[str]:
        """The modules the server (or, with `cluster`, a cluster of it) needs and cannot
        import here; importing nothing heavy itself."""
        ...

    def start_server(
        self,
        *,
        jwt_secret: str,
        jwt_public_key: str | None = None,
        heartbeat: Heartbeat | None = None,
        limits: Limits | None = None,
    ) -> ServerHandle:
        """One node on a free port with a scratch data directory, healthy when returned;
        verifying RS256/ES256 tokens with the PEM file `jwt_public_key` when given, else HS256
        with `jwt_secret`."""
        ...

    def start_cluster(
        self,
        nodes: int,
        redis_url: str,
        database_url: str,
        *,
        jwt_secret: str,
        jwt_public_key: str | None = None,
        redis_prefix: str | None = None,
    ) -> ClusterHandle:
        """`nodes` nodes sharing Redis and PostgreSQL, every one healthy when returned."""
        ...

    def check_cluster_settings(
        self, nodes: int, redis_url: str | None, database_url: str | None
    ) -> None:
        """Raise `settings_error` for a cluster that could not act as one server."""
        ...

    def add_serve_options(self, parser: argparse.ArgumentParser) -> None:
        """The server's own options (`crm-harness serve`)."""
        ...

    def serve(
        self, args: argparse.Namespace, nodes: int, prog: str, announce: Callable[[str], None]
    ) -> int:
        """Run in the foreground until SIGINT/SIGTERM (`nodes` > 1: a local cluster)."""
        ...


class MissingExtra(UsageError):
    """The bundled server (or its cluster backends) is not installed: one line, exit 2."""


def verifying(tokens: object, directory: Path) -> dict[str, Any]:
    """The `start_server` / `start_cluster` keywords of a server that accepts what `tokens`
    (a `harness.client` token source, above this module) mints: its HS256 `secret`, or the
    public half of its key (RS256/ES256: `public_pem()`), written to `directory`."""
    verify: dict[str, Any] = {"jwt_secret": getattr(tokens, "secret", "")}
    public_pem = getattr(tokens, "public_pem", None)
    if callable(public_pem):
        public = directory / "jwt-public.pem"
        public.write_bytes(public_pem())
        verify["jwt_public_key"] = str(public)
    return verify


def install_hint(cluster: bool = False) -> str:
    return f"pip install '{_DISTRIBUTION}[{CLUSTER_EXTRA if cluster else SERVER_EXTRA}]'"


def _load_provider() -> ServerProvider | None:
    found = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == BUNDLED_NAME]
    if not found:
        return None
    provider = found[0].load()
    if not isinstance(provider, ServerProvider):
        raise TypeError(f"entry point {found[0].value} is not a harness ServerProvider")
    return provider


def unavailable_reason(cluster: bool = False) -> str | None:
    """None when the bundled server (with `cluster`: a local cluster of it) can start here,
    else the one line that says what to install."""
    provider = _load_provider()
    if provider is None:
        return f"the bundled reference server is not installed: {install_hint(cluster)}"
    missing = provider.missing_modules(cluster=cluster)
    if not missing:
        return None
    what = "a local cluster of the bundled server" if cluster else "the bundled reference server"
    return f"{what} needs {', '.join(missing)}, not installed: {install_hint(cluster)}"


def bundled_server(cluster: bool = False, alternative: str = "") -> BundledServer:
    """The bundled server's interface; `MissingExtra` (one line naming the extra, plus
    `alternative`, e.g. "or give --url") when its dependencies are not installed."""
    reason = unavailable_reason(cluster)
    if reason is not None:
        raise MissingExtra(f"{reason}{f' ({alternative})' if alternative else ''}")
    provider = _load_provider()
    assert provider is not None
    return BundledServer(provider)


@dataclass(frozen=True, slots=True)
class _ServerHandle:
    """A `ServerHandle` whose errors are the harness's."""

    inner: ServerHandle
    translate: Callable[[], AbstractContextManager[None]]

    @property
    def url(self) -> str:
        return self.inner.url

    def start(self) -> object:
        with self.translate():
            return self.inner.start()

    def kill(self) -> None:
        self.inner.kill()

    def close(self) -> None:
        self.inner.close()


@dataclass(frozen=True, slots=True)
class BundledServer:
    """`ServerProvider`, as the harness calls it: the server's errors become `UsageError`
    (bad settings) and `TargetError` (could not start), one line each."""

    provider: ServerProvider

    @contextmanager
    def _translated(self) -> Iterator[None]:
        try:
            yield
        except self.provider.settings_error as exc:
            raise UsageError(str(exc)) from None
        except self.provider.startup_error as exc:
            raise TargetError(str(exc)) from None

    def start_server(
        self,
        *,
        jwt_secret: str,
        jwt_public_key: str | None = None,
        heartbeat: Heartbeat | None = None,
        limits: Limits | None = None,
    ) -> ServerHandle:
        with self._translated():
            inner = self.provider.start_server(
                jwt_secret=jwt_secret, jwt_public_key=jwt_public_key, heartbeat=heartbeat,
                limits=limits,
            )  # fmt: skip
        return _ServerHandle(inner, self._translated)

    def start_cluster(
        self,
        nodes: int,
        redis_url: str,
        database_url: str,
        *,
        jwt_secret: str,
        jwt_public_key: str | None = None,
        redis_prefix: str | None = None,
    ) -> ClusterHandle:
        with self._translated():
            return self.provider.start_cluster(
                nodes, redis_url, database_url, jwt_secret=jwt_secret,
                jwt_public_key=jwt_public_key, redis_prefix=redis_prefix,
            )  # fmt: skip

    def check_cluster_settings(
        self, nodes: int, redis_url: str | None, database_url: str | None
    ) -> None:
        with self._translated():
            self.provider.check_cluster_settings(nodes, redis_url, database_url)

    def add_serve_options(self, parser: argparse.ArgumentParser) -> None:
        self.provider.add_serve_options(parser)

    def serve(
        self, args: argparse.Namespace, nodes: int, prog: str, announce: Callable[[str], None]
    ) -> int:
        with self._translated():
            return self.provider.serve(args, nodes, prog, announce)
