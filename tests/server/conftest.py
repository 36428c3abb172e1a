"""One reference server for the whole session (started through the launcher), plus helpers."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from e2e_clients import Target

from harness.client import Org, TokenFactory
from harness.spec import Heartbeat, Limits
from reference_server.config import ServerSettings
from reference_server.launcher import RunningServer, start_server

# Short where a test waits on them; the rest are the spec's defaults.
TEST_LIMITS = Limits(floodDisconnectThreshold=30, replayWindowEvents=10)
TEST_HEARTBEAT = Heartbeat(pingInterval=1000, pingTimeout=1000)


@pytest.fixture(scope="session")
def jwt_secret() -> str:
    return secrets.token_hex(32)


@pytest.fixture(scope="session")
def running_server(jwt_secret: str) -> Iterator[RunningServer]:
    settings = ServerSettings(
        port=0, jwt_secret=jwt_secret, limits=TEST_LIMITS, heartbeat=TEST_HEARTBEAT
    )
    with start_server(settings) as server:
        yield server


@pytest.fixture
def target(running_server: RunningServer, jwt_secret: str) -> Target:
    return Target(running_server.url, TokenFactory(jwt_secret))


@pytest.fixture
def org() -> Org:
    return Org()
