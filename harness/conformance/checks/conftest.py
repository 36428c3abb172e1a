"""Fixtures of the checks: the target (read once) and a fresh `Crm` per test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest
import pytest_asyncio

from .._session import RESTART_KEY, TARGET_KEY
from .._target import Target
from ..kit import Crm
from ..outcomes import not_run


@pytest.fixture(scope="session")
def crm_target(pytestconfig: pytest.Config) -> Target:
    target = pytestconfig.stash.get(TARGET_KEY, None)
    if target is None:
        not_run("no target: run with --crm-url URL --crm-jwt-secret S")
    return target


@pytest.fixture(scope="session")
def crm_info(crm_target: Target) -> Mapping[str, Any]:
    """The target's info document, read once per run (INF-1); limits come from it (INF-2)."""
    return crm_target.info


@pytest_asyncio.fixture
async def crm(crm_target: Target, request: pytest.FixtureRequest) -> AsyncIterator[Crm]:
    hook = request.config.stash.get(RESTART_KEY, None)
    helper = Crm(crm_target, request.node, restart_hook=hook)
    try:
        yield helper
    finally:
        await helper.aclose()
