"""The AsyncAPI reference parser (npm `@asyncapi/parser`), installed once into .cache/npm with
the machine's npm; the tests that need it skip with a reason where npm is absent."""

from __future__ import annotations

import fcntl
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NPM_PREFIX = REPO / ".cache" / "npm"
PARSER_PACKAGE = "@asyncapi/parser@3"


@pytest.fixture(scope="session")
def asyncapi_parser_modules() -> Path:
    """node_modules holding @asyncapi/parser (installed under a lock: xdist workers share it)."""
    npm, node = shutil.which("npm"), shutil.which("node")
    if npm is None or node is None:
        pytest.skip("npm/node not installed: the AsyncAPI document is not parsed here")
    modules = NPM_PREFIX / "node_modules"
    NPM_PREFIX.mkdir(parents=True, exist_ok=True)
    with open(NPM_PREFIX / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (modules / "@asyncapi" / "parser" / "package.json").is_file():
            done = subprocess.run(
                [npm, "install", "--prefix", str(NPM_PREFIX), "--no-audit", "--no-fund",
                 "--silent", PARSER_PACKAGE],
                capture_output=True, text=True, timeout=300, check=False,
            )  # fmt: skip
            assert done.returncode == 0, f"npm install {PARSER_PACKAGE} failed: {done.stderr}"
    return modules
