"""`pip install crm-realtime-harness` (no extras) gives the harness without the server.

Issue 11's done-when test lives here too (conform and a 200-user load over TLS with RS256
tokens from this install): the install is slow to build and shared by the module.

INF-1/INF-3 from a harness-only install: its `crm-harness conform --url` checks a reference
server started from the project's own env; the server's dependencies are not there, and the
commands that need them say which extra to install, in one line, exit 2.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.cli.conform import BUNDLED_HEARTBEAT, BUNDLED_LIMITS
from harness.spec import Heartbeat, Limits
from reference_server.launcher import RunningServer, start_server
from tests.packaging.fresh_install import HarnessOnlyInstall
from tests.pki import JwtKeys, TlsFiles

# The session fixture's pip install runs inside the first test's time: minutes on a busy machine.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

SERVER_ONLY = ("fastapi", "uvicorn", "aiosqlite", "starlette")
CLUSTER_ONLY = ("asyncpg", "redis")
SECRET = "wheel-test-secret-of-32-bytes-or-more-0123"
# A few ids that reach every layer the suite uses: REST and info, tokens, sockets and
# streams, the metrics parser, the reports. Every check module is imported at collection.
REQUIREMENTS = "INF-1,INF-2,AUTH-1,EVT-1,STR-1,MET-1"


@pytest.fixture(scope="module")
def project_server() -> Iterator[RunningServer]:
    """A reference server from the project's env, with the bundled server's short timings."""
    with start_server(
        jwt_secret=SECRET, heartbeat=Heartbeat(*BUNDLED_HEARTBEAT), limits=Limits(**BUNDLED_LIMITS)
    ) as server:
        yield server


def test_the_install_has_the_harness_and_none_of_the_server(
    harness_only_install: HarnessOnlyInstall,
) -> None:
    print(f"harness-only install, seconds: {harness_only_install.seconds}")
    install = harness_only_install
    assert install.importable(SERVER_ONLY + CLUSTER_ONLY) == []
    wanted = ("harness", "harness.load", "locust", "pandas", "socketio", "jwt")
    assert install.importable(wanted) == list(wanted)
    version = install.run("--version")
    assert version.returncode == 0 and version.stdout.startswith("crm-harness "), version.stderr


def test_help_works_and_serve_names_its_extra(harness_only_install: HarnessOnlyInstall) -> None:
    helped = harness_only_install.run("--help")
    assert helped.returncode == 0, helped.stderr
    for command in ("serve", "conform", "load", "report", "compare", "sweep", "capacity"):
        assert command in helped.stdout
    # The other commands' messages (conform, load --nodes, sweep) are the same seam's, tested
    # with the extras hidden in test_bundled_server_seam.py: each process here costs seconds.
    done = harness_only_install.run("serve", "--port", "0", "--jwt-secret", SECRET)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert done.stderr.startswith("crm-harness serve: ")
    assert "pip install 'crm-realtime-harness[server]'" in done.stderr


def test_conform_url_from_the_install_passes_the_reference_server(
    harness_only_install: HarnessOnlyInstall, project_server: RunningServer, tmp_path: Path
) -> None:
    report = tmp_path / "report"
    done = harness_only_install.run(
        "conform", "--url", project_server.url, "--jwt-secret", SECRET,
        "--req", REQUIREMENTS, "--report", str(report), timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert "fail 0" in done.stdout
    assert (report / "report.json").is_file() and (report / "report.html").is_file()


@pytest.mark.timeout(1800)  # the install (if first), the whole suite and a 200-user run
def test_done_when_tls_and_rs256_conform_and_load_from_the_install(
    harness_only_install: HarnessOnlyInstall,
    tls_rs256_server: RunningServer,
    tls_files: TlsFiles,
    rs256_keys: JwtKeys,
    tmp_path: Path,
) -> None:
    """Issue 11, done when: the reference server behind TLS, verifying RS256 tokens with a
    public key, passes `conform` over https:// with --ca-cert and --jwt-private-key, and a
    200-user `load` over the same URL ends with final loss 0 and its report, both from the
    harness-only install (the README's "check your own server" commands)."""
    # The server's own timings, not the bundled server's short ones: a 1 s pingTimeout and a
    # 4 s replay window lose a loaded generator's sockets and then their events (seen: final
    # loss 26 of 1751); the suite's timing checks fit its defaults (or say not-run).
    url = tls_rs256_server.url
    assert url.startswith("https://")
    target = ["--url", url, "--ca-cert", str(tls_files.ca),
              "--jwt-private-key", str(rs256_keys.private)]  # fmt: skip
    conform = harness_only_install.run(
        "conform", *target, "--report", str(tmp_path / "conform"), timeout=1200
    )
    assert conform.returncode == 0, conform.stdout[-2000:] + conform.stderr[-3000:]
    assert "fail 0" in conform.stdout
    report = json.loads((tmp_path / "conform" / "report.json").read_text())
    assert report["target"]["auth"] == {"algorithms": ["RS256"]}
    load_dir = tmp_path / "load"
    load = harness_only_install.run(
        "load", *target, "--users", "200", "--spawn-rate", "50", "--duration", "20s",
        "--report", str(load_dir), timeout=600,
    )  # fmt: skip
    assert load.returncode == 0, load.stdout[-3000:] + load.stderr[-3000:]
    summary = json.loads((load_dir / "summary.json").read_text())
    assert summary["users"] == 200 and summary["connect_errors"] == 0, summary
    assert summary["changes"]["ok"] > 0 and summary["loss"]["final"] == 0, summary
    assert (load_dir / "report.html").is_file()
