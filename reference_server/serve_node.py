"""Run one node in the foreground: `crm-harness serve` and `python -m reference_server`.

Backends are checked before uvicorn starts, so a bad URL or an unreachable database is one
clear line rather than a startup traceback; the listening socket is bound here for the same
reason (a port in use) and so that `--port 0` can report the port it got.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
from collections.abc import Callable
from pathlib import Path
from types import FrameType

import uvicorn

from .app import build_app
from .auth import Verifier, verifier_for
from .backends import Backends, choose_backends
from .config import LISTENING_MESSAGE, ServerSettings, listening_line
from .exceptions import SettingsError, StartupError

__all__ = ["LISTENING_MESSAGE", "listening_line", "serve_forever"]

_GRACEFUL_SHUTDOWN_SECONDS = 3
_WEBSOCKET_PROTOCOL = "websockets-sansio"


class _Server(uvicorn.Server):
    """uvicorn re-raises a captured SIGTERM/SIGINT after its graceful shutdown, so the process
    would end "killed by signal"; a requested stop that completed is a clean exit (code 0)."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        self._captured_signals.clear()


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise SettingsError(
                f"cannot listen on {host}:{port}: the port is already in use"
            ) from None
        raise SettingsError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


async def _preflight(backends: Backends, settings: ServerSettings) -> None:
    """Open and close each backend once; StartupError names what failed, in one line."""
    for what, url, backend in (
        ("database", settings.store_url, backends.store),
        ("Redis", settings.redis_url or "in-process", backends.state),
    ):
        try:
            await backend.open()
        except Exception as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise StartupError(f"cannot open the {what} at {url}: {reason}") from None
        finally:
            # Closing a backend that never opened may fail; there is nothing to undo then.
            with contextlib.suppress(Exception):
                await backend.close()


async def _open_verifier(settings: ServerSettings) -> Verifier:
    """A JWKS is fetched before the node serves: it decides the advertised algorithm, and an
    unreachable one is one clear line now rather than refused tokens later."""
    verifier = verifier_for(settings)
    await verifier.open()
    return verifier


async def _announce_when_started(server: uvicorn.Server, announce: Callable[[], None]) -> None:
    while not server.started:
        if server.should_exit:
            return
        await asyncio.sleep(0.05)
    announce()


async def _serve(settings: ServerSettings, prog: str, announce: Callable[[str], None]) -> None:
    backends = choose_backends(settings)
    await _preflight(backends, settings)
    verifier = await _open_verifier(settings)
    sock = _bind(settings.host, settings.port)
    port = sock.getsockname()[1]
    app = build_app(
        settings,
        backends.store,
        backends.state,
        manager=backends.manager,
        verifier=verifier,
        outbox=backends.outbox,
    )
    config = uvicorn.Config(
        app,
        log_level=settings.log_level,
        lifespan="on",
        timeout_graceful_shutdown=_GRACEFUL_SHUTDOWN_SECONDS,
        access_log=settings.log_level == "debug",
        # Measured with benchmarks/bench_fanout.py: the sans-I/O websockets protocol spends about
        # half the server CPU per fanned-out event of uvicorn's default legacy implementation.
        ws=_WEBSOCKET_PROTOCOL,
        # No WebSocket-level keepalive: Engine.IO's own heartbeat (TRN-3) already pings every
        # socket and drops a silent one; uvicorn's ping was a second timer and ping/pong per
        # socket every 20 s for nothing (issue 13, profiled at 2,000 users).
        ws_ping_interval=None,
        ws_ping_timeout=None,
        ssl_certfile=settings.tls_cert,
        ssl_keyfile=settings.tls_key,
    )
    server = _Server(config)
    watcher = asyncio.create_task(
        _announce_when_started(
            server, lambda: announce(listening_line(prog, settings.host, port, settings.scheme))
        )
    )
    try:
        await server.serve(sockets=[sock])
    finally:
        watcher.cancel()
        sock.close()
    if not server.started:
        raise StartupError("the server failed to start (see the log above)")


def serve_forever(settings: ServerSettings, prog: str, announce: Callable[[str], None]) -> int:
    """Blocks until SIGINT/SIGTERM (uvicorn handles both: graceful stop). Exit code 0."""
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(levelname)s %(name)s: %(message)s"
    )
    if settings.database_url is None:
        Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
    with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
        runner.run(_serve(settings, prog, announce))
    return 0


def event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop when it is installed (uvicorn[standard] brings it, except on
    Windows and PyPy), else asyncio's default. `uvicorn.run` would pick uvloop itself, but
    this module runs the loop (to bind the socket and check the backends first), and with
    `asyncio.run` every socket, timer and callback went through asyncio's pure-Python
    selector loop: about a fifth of the server's CPU at 2,000 users (issue 13 item 3)."""
    try:
        import uvloop
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory
