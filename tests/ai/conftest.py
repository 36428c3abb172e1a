"""The fault-switchable reference server lives with the collab tests; the AI fault tests
share it (one process per module)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "collab"))

from fault_kit import FaultyServer, faulty_server


@pytest.fixture(scope="module")
def ai_fault_target() -> Iterator[FaultyServer]:
    with faulty_server() as server:
        yield server
