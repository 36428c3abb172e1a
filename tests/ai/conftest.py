"""The fault-switchable reference server (tests/faults, shared by every area), one process per
module of AI fault tests."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "faults"))

from fault_verdicts import FaultyServer, faulty_server


@pytest.fixture(scope="module")
def ai_fault_target() -> Iterator[FaultyServer]:
    with faulty_server() as server:
        yield server
