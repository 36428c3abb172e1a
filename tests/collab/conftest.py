"""A fault-switchable reference server shared by the collab fault tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fault_kit import FaultyServer, faulty_server


@pytest.fixture(scope="module")
def fault_target() -> Iterator[FaultyServer]:
    with faulty_server() as server:
        yield server
