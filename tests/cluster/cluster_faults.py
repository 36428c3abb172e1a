"""Real faults for the cluster tests: a private Redis to kill, and a TCP proxy to cut.

Never the shared Redis on 6379 or PostgreSQL on 5432: those serve every engineer's tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field

__all__ = ["PrivateRedis", "TcpProxy", "free_port"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_port(port: int, up: bool, within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            sock.settimeout(0.2)
            answered = sock.connect_ex(("127.0.0.1", port)) == 0
        if answered == up:
            return
        time.sleep(0.05)
    raise TimeoutError(f"port {port} did not go {'up' if up else 'down'} in {within} s")


@dataclass
class PrivateRedis:
    """A throwaway `redis-server` without persistence: a kill loses everything it held."""

    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed")
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_port(self.port, up=True)

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(5)
            self.process = None
            _wait_port(self.port, up=False)


class TcpProxy:
    """Forwards 127.0.0.1:`port` to a target; `cut()` black-holes traffic, `take_down()`
    closes everything, `restore()` ends either.

    A black hole (connections accepted or kept, bytes dropped) is the hard case for a client:
    nothing fails, it only waits, so only its own timeouts save it. Runs on its own thread so
    that tests and server processes need not share an event loop with it.
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self._cut = threading.Event()
        self._down = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._writers: set[asyncio.StreamWriter] = set()
        self._stranded: set[asyncio.StreamWriter] = set()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tcp-proxy", daemon=True)

    def __enter__(self) -> TcpProxy:
        self._thread.start()
        self._ready.wait(5)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def cut(self) -> None:
        """A partition: bytes vanish, connections stay open, nothing tells the client."""
        self._cut.set()

    def strand(self) -> None:
        """The connections open now go silent for good, without being closed (the server
        forgot them, a middlebox dropped them); new connections work."""
        self._loop.call_soon_threadsafe(lambda: self._stranded.update(self._writers))

    def take_down(self) -> None:
        """The server is gone: every connection is closed and new ones are closed at once."""
        self._down.set()
        self._loop.call_soon_threadsafe(self._drop_all)

    def restore(self) -> None:
        """Traffic flows again; connections opened during the cut are closed so clients redial."""
        self._loop.call_soon_threadsafe(self._drop_all)
        self._cut.clear()
        self._down.clear()

    def _drop_all(self) -> None:
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(
            asyncio.start_server(self._serve, "127.0.0.1", self.port)
        )
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            server.close()
            self._drop_all()
            with contextlib.suppress(Exception):
                self._loop.run_until_complete(asyncio.sleep(0))
            self._loop.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._down.is_set():
            writer.close()
            return
        self._writers.add(writer)
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._writers.add(up_writer)
        await asyncio.gather(
            self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True
        )
        for w in (writer, up_writer):
            w.close()
            self._writers.discard(w)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            if self._cut.is_set() or writer in self._stranded:
                continue  # black hole: swallow it
            writer.write(data)
            await writer.drain()
        writer.close()
