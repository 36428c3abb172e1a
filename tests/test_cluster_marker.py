"""`-m "not cluster"` runs the suite without PostgreSQL and Redis: every test that reaches
them carries the `cluster` marker (tests/conftest.py adds it from the fixtures it uses)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.services import SERVICE_FIXTURES

# Collecting the whole suite imports every test module: over a minute on a busy machine.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[1]

# Collects the suite as `pytest -m "not cluster"` would, and writes the fixtures of the tests
# it kept and of those it deselected.
_PROBE = """
import json, sys
import pytest

class Probe:
    def __init__(self):
        self.kept, self.dropped = {}, {}

    def pytest_deselected(self, items):
        self.dropped.update((i.nodeid, list(getattr(i, "fixturenames", ()))) for i in items)

    def pytest_collection_finish(self, session):
        self.kept = {i.nodeid: list(getattr(i, "fixturenames", ())) for i in session.items}

probe = Probe()
code = pytest.main(["--collect-only", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
                    "-m", "not cluster", "tests"], plugins=[probe])
json.dump({"code": int(code), "kept": probe.kept, "dropped": probe.dropped},
          open(sys.argv[1], "w"))
"""


def test_not_cluster_keeps_no_test_that_uses_postgres_or_redis(tmp_path: Path) -> None:
    out = tmp_path / "collected.json"
    done = subprocess.run([sys.executable, "-c", _PROBE, str(out)], cwd=ROOT, capture_output=True,
                          text=True, timeout=600, check=False)  # fmt: skip
    assert out.exists(), done.stdout[-3000:] + done.stderr[-3000:]
    collected = json.loads(out.read_text())
    assert collected["code"] == 0, done.stdout[-3000:]
    uses_services = {
        where: sorted(SERVICE_FIXTURES & set(fixtures))
        for where, fixtures in collected["kept"].items()
        if SERVICE_FIXTURES & set(fixtures)
    }
    assert uses_services == {}
    # The probe sees what it looks for: the deselected tests include fixture users (and the
    # files that need the services as a whole).
    dropped = collected["dropped"]
    assert any(SERVICE_FIXTURES & set(fixtures) for fixtures in dropped.values())
    for path in ("tests/cluster/test_cluster_faults.py", "tests/cluster/test_cluster_e2e.py",
                 "tests/cluster/test_redis_state.py", "tests/cluster/test_redis_fanout.py",
                 "tests/store/test_store_postgres.py"):  # fmt: skip
        assert any(nodeid.startswith(path) for nodeid in dropped), path
        assert not any(nodeid.startswith(path) for nodeid in collected["kept"]), path
    assert len(collected["kept"]) > len(dropped)  # the rest of the suite still runs
