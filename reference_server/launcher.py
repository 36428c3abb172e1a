"""Start the reference server as a subprocess on a free port: for the conformance suite, the
load engine and tests.

    with start_server(limits=Limits(burst=5)) as server:
        httpx.get(server.url + "/healthz")
        server.kill(); server.restart()   # a crash and a restart on the same data dir (CLU-2)
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self, TypeVar, overload

import httpx

from harness.spec import HEALTH_PATH

from .config import DEFAULT_DATA_DIR, LISTENING_MESSAGE, ServerSettings
from .exceptions import StartupError

__all__ = ["RunningServer", "free_port", "retry_taken_port", "start_server"]

_T = TypeVar("_T")

_START_TIMEOUT_SECONDS = 120.0
_STOP_TIMEOUT_SECONDS = 8.0
_LOG_TAIL_LINES = 15
_PORT_ATTEMPTS = 3
_PORT_TAKEN = "already in use"  # runner's wording for EADDRINUSE


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def retry_taken_port(start: Callable[[], _T], attempts: int = _PORT_ATTEMPTS) -> _T:
    """`start()` again while it fails because its port was taken, up to `attempts` times.

    A port found free can be taken by another process before our child binds it: `start`
    must pick its port(s) afresh on each call and clean up after itself when it fails.
    """
    for attempt in range(1, attempts + 1):
        try:
            return start()
        except StartupError as exc:
            if _PORT_TAKEN not in str(exc) or attempt == attempts:
                raise
    raise AssertionError("unreachable")  # the loop returns or raises


class RunningServer:
    """One server subprocess. `.url` stays the same across `restart()`."""

    def __init__(self, settings: ServerSettings, owned_dir: Path | None) -> None:
        self.settings = settings
        self._owned_dir = owned_dir
        self._process: subprocess.Popen[bytes] | None = None
        self._log_path = Path(settings.data_dir) / "server.log"
        self._log: IO[bytes] | None = None
        self._log_offset = 0

    @property
    def url(self) -> str:
        return f"{self.settings.scheme}://{self.settings.host}:{self.settings.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout_seconds: float = _START_TIMEOUT_SECONDS) -> RunningServer:
        if self.running:
            return self
        Path(self.settings.data_dir).mkdir(parents=True, exist_ok=True)
        self._log = open(self._log_path, "ab")  # noqa: SIM115 - held open for the child's life
        self._log_offset = self._log.tell()
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self._process = subprocess.Popen(
            self.command(), stdout=self._log, stderr=subprocess.STDOUT, env=env
        )
        self._wait_healthy(timeout_seconds)
        return self

    def command(self) -> list[str]:
        """The argv that starts the server; a test entry point that wraps it overrides this."""
        return [sys.executable, "-m", "reference_server", *self.settings.to_cli_args()]

    def _announced(self) -> bool:
        """Our child printed its listening line. A /healthz answer alone could come from another
        process that took the port between `free_port()` and our bind."""
        try:
            with open(self._log_path, "rb") as log:
                log.seek(self._log_offset)
                text = log.read().decode(errors="replace")
        except OSError:
            return False
        return f"{LISTENING_MESSAGE} {self.url}" in text

    def _wait_healthy(self, timeout_seconds: float) -> None:
        deadline = time.monotonic() + timeout_seconds
        # Our own child on loopback, identified by its listening line: its certificate (TLS)
        # is for the clients under test to verify, not for this probe.
        with httpx.Client(timeout=1.0, verify=False) as client:
            while time.monotonic() < deadline:
                if self._process is not None and self._process.poll() is not None:
                    raise StartupError(f"the server exited at startup: {self.log_tail()}")
                try:
                    if self._announced() and client.get(self.url + HEALTH_PATH).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                time.sleep(0.05)
        self.kill()
        raise StartupError(
            f"the server did not become healthy in {timeout_seconds:.0f} s: {self.log_tail()}"
        )

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        try:
            text = self._log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return " | ".join(text.strip().splitlines()[-lines:]) or "(empty log)"

    def _finish(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None
        self._process = None

    def stop(self, timeout_seconds: float = _STOP_TIMEOUT_SECONDS) -> None:
        """SIGTERM (graceful), then SIGKILL if it does not exit in time."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout_seconds)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._finish()

    def kill(self) -> None:
        """SIGKILL: a crash, for durability tests (CLU-2)."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        self._finish()

    def restart(self, timeout_seconds: float = _START_TIMEOUT_SECONDS) -> RunningServer:
        self.stop()
        return self.start(timeout_seconds)

    def close(self) -> None:
        """Stop, and remove the data directory if the launcher made it."""
        self.stop()
        if self._owned_dir is not None:
            shutil.rmtree(self._owned_dir, ignore_errors=True)
            self._owned_dir = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


_Node = TypeVar("_Node", bound=RunningServer)


@overload
def start_server(
    settings: ServerSettings | None = None, *, node_class: type[_Node], **changes: Any
) -> _Node: ...


@overload
def start_server(settings: ServerSettings | None = None, **changes: Any) -> RunningServer: ...


def start_server(
    settings: ServerSettings | None = None,
    *,
    node_class: type[RunningServer] = RunningServer,
    **changes: Any,
) -> RunningServer:
    """Start a server; `changes` override fields of `settings` (e.g. `limits=`, `jwt_secret=`).

    Port 0 (the default here) picks a free port once, kept across restarts. Without a data
    dir of its own, the server gets a temporary one, removed by `close()`. `node_class`
    starts it (tests pass one that runs a test entry point).
    """
    base = settings or ServerSettings(port=0)
    base = dataclasses.replace(base, **changes)
    owned: Path | None = None
    if base.data_dir == DEFAULT_DATA_DIR:  # also with a database URL: the log lives there
        owned = Path(tempfile.mkdtemp(prefix="crm-server-"))
        base = dataclasses.replace(base, data_dir=str(owned))
    pick_port = base.port == 0

    def start() -> RunningServer:
        picked = dataclasses.replace(base, port=free_port(base.host)) if pick_port else base
        server = node_class(picked, owned)
        try:
            server.start()
            return server
        except BaseException:
            server.stop()
            raise

    try:
        return retry_taken_port(start) if pick_port else start()
    except BaseException:
        if owned is not None:
            shutil.rmtree(owned, ignore_errors=True)
        raise
