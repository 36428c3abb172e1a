"""One fault-switchable reference server per test module of this folder."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fault_verdicts import FaultyServer, faulty_server


@pytest.fixture(scope="module")
def core_fault_target() -> Iterator[FaultyServer]:
    with faulty_server() as server:
        yield server
