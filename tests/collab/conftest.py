"""A fault-switchable reference server shared by the collab fault tests (its machinery lives in
tests/faults, shared by every area)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "faults"))

from fault_verdicts import FaultyServer, faulty_server


@pytest.fixture(scope="module")
def fault_target() -> Iterator[FaultyServer]:
    with faulty_server() as server:
        yield server
