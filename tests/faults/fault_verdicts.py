"""Run the conformance suite against `fault_server.py` with one rule broken at a time.

Shared by the fault tests of every area (tests/faults, tests/collab, tests/ai).

One server process serves a whole test module; `verdicts_under` flips its fault switch,
runs the suite for the given ids in-process (`harness.conformance.run`) and returns the
verdicts. Short timings (grace, lock TTL) keep the timing checks inside the run.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from fault_switch import FAULTS_PATH, STARTUP_FAULTS_ENV

from harness.cli.conform import BUNDLED_HEARTBEAT
from harness.client import TargetConnection, TokenFactory, TokenSource
from harness.conformance import Verdict, run
from harness.spec import Heartbeat, Limits
from reference_server.config import ServerSettings
from reference_server.launcher import RunningServer, free_port

__all__ = ["FAULT_SERVER", "FaultyServer", "faulty_server", "verdicts_under"]

FAULT_SERVER = Path(__file__).with_name("fault_server.py")
# A short replay window keeps STR-3's window check (one change per windowed event) quick.
SHORT_LIMITS = Limits(editLockTtlSeconds=2, presenceGraceSeconds=1, replayWindowEvents=100)
# Nested pytest runs must not re-arm pytest-timeout's alarm of the outer test.
_NESTED = ["-p", "no:timeout"]


class FaultyServer(RunningServer):
    """`RunningServer`, started through the fault entry point instead of `-m reference_server`."""

    secret: str = ""
    tokens: TokenSource | None = None  # None: HS256 with `secret`
    faults: tuple[str, ...] = ()  # on from the start of a restarted process too (CLU-2)

    def start(self, timeout_seconds: float = 30.0) -> RunningServer:
        if self.running:
            return self
        Path(self.settings.data_dir).mkdir(parents=True, exist_ok=True)
        self._log = open(self._log_path, "ab")  # noqa: SIM115 - held open for the child's life
        command = [sys.executable, str(FAULT_SERVER), *self.settings.to_cli_args()]
        self._process = subprocess.Popen(
            command, stdout=self._log, stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", STARTUP_FAULTS_ENV: ",".join(self.faults)},
        )  # fmt: skip
        self._wait_healthy(timeout_seconds)
        return self

    def connection(self) -> TargetConnection:
        return TargetConnection((self.url,), self.tokens or TokenFactory(self.secret))

    def set_faults(self, faults: Sequence[str]) -> None:
        answer = httpx.post(f"{self.url}{FAULTS_PATH}", json={"faults": list(faults)}, timeout=5)
        answer.raise_for_status()
        assert answer.json()["faults"] == sorted(faults), answer.text
        self.faults = tuple(faults)


@contextmanager
def faulty_server(tokens: TokenSource | None = None, **changes: Any) -> Iterator[FaultyServer]:
    """`changes` override server settings (`jwks_url=` for a server with keys); `tokens` is
    what the suite mints with then (default: HS256 with the server's secret)."""
    secret = secrets.token_hex(16)
    data_dir = Path(tempfile.mkdtemp(prefix="crm-faulty-"))
    settings = ServerSettings(
        port=free_port(), jwt_secret=secret, data_dir=str(data_dir), limits=SHORT_LIMITS,
        heartbeat=Heartbeat(*BUNDLED_HEARTBEAT),
    )  # fmt: skip
    server = FaultyServer(dataclasses.replace(settings, **changes), data_dir)  # close() rm's it
    server.secret = secret
    server.tokens = tokens
    try:
        server.start()
        yield server
    finally:
        server.close()


def verdicts_under(
    server: FaultyServer,
    faults: Sequence[str],
    ids: Sequence[str],
    keyword: str | None = None,
    *,
    fuzz_seed: int | None = None,
) -> dict[str, Verdict]:
    """The suite's verdicts for `ids` with `faults` on; `keyword` narrows it to the checks
    that target the fault (an id's other, slower checks need not run to show it fails)."""

    def restart() -> None:  # CLU-2's checks restart the target in-process
        server.restart()

    server.set_faults(faults)
    try:
        outcome = run(server.connection(), requirement_ids=list(ids), keyword=keyword,
                      restart=restart, quiet_s=0.3, fuzz_seed=fuzz_seed,
                      extra_pytest_args=_NESTED)  # fmt: skip
    finally:
        server.set_faults([])
    assert outcome.errors == [], outcome.errors
    return outcome.verdicts()
