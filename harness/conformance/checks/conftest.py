"""Fixtures of the checks: the target (read once) and a fresh `Crm` per test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest
import pytest_asyncio

from harness.contract import PayloadValidator

from .._session import RESTART_KEY, TARGET_KEY
from .._target import Target
from ..check_api import Crm
from ..evidence import TRANSCRIPT_KEY
from ..outcomes import not_run
from ..payload_check import PayloadCheck


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


@pytest.fixture(scope="session")
def crm_validator(crm_target: Target) -> PayloadValidator:
    """The spec's schemas, compiled once; the target's sensitive fields may carry "[REDACTED]"."""
    return PayloadValidator(crm_target.info.get("sensitiveFields"))


@pytest_asyncio.fixture
async def crm(
    crm_target: Target, crm_validator: PayloadValidator, request: pytest.FixtureRequest
) -> AsyncIterator[Crm]:
    hook = request.config.stash.get(RESTART_KEY, None)
    payloads = PayloadCheck(crm_validator)
    helper = Crm(crm_target, request.node, restart_hook=hook, payloads=payloads)
    request.node.stash[TRANSCRIPT_KEY] = helper.transcript
    try:
        yield helper
    finally:
        await helper.aclose()
