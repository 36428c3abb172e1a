"""Fixtures of the packaging tests: the harness-only install, once per session."""

from __future__ import annotations

import pytest
from fresh_install import HarnessOnlyInstall, install_harness_only


@pytest.fixture(scope="session")
def harness_only_install(tmp_path_factory: pytest.TempPathFactory) -> HarnessOnlyInstall:
    """`pip install crm-realtime-harness` (no extras) in a fresh venv; about a minute, once."""
    return install_harness_only(tmp_path_factory.mktemp("harness-only"))
