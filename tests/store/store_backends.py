"""The two backends every store-facing test runs on, as database URLs."""

from __future__ import annotations

from pathlib import Path

import pytest

__all__ = ["BACKENDS", "backend_url"]

# PostgreSQL is a `cluster` test: `-m "not cluster"` keeps the SQLite half.
BACKENDS = ("sqlite", pytest.param("postgres", marks=pytest.mark.cluster))


def backend_url(request: pytest.FixtureRequest, tmp_path: Path, name: str) -> str:
    """For a fixture parametrised over BACKENDS; call it from a SYNC fixture, because
    `postgres_url` (tests/conftest.py) runs its own event loop."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/data/{name}.sqlite3"
    url: str = request.getfixturevalue("postgres_url")
    return url
