"""The compose load layout for real: `crm-harness load --remote-workers` as master and a worker
started by deploy/locust/worker.sh, sharing only TMPDIR and the run directory, as the
`locust-master` and `locust-worker` services do. EVT-1/EVT-2/STR-5 figures come out of it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from ship_support import ROOT

from reference_server.launcher import RunningServer, free_port, start_server

WORKER_SH = ROOT / "deploy" / "locust" / "worker.sh"
SECRET = "ship-locust-secret-of-32-bytes-long"


def _fake_locust(bin_dir: Path) -> None:
    script = bin_dir / "locust"
    script.write_text('#!/bin/sh\necho "config=$CRM_LOAD_CONFIG args=$*"\n')
    script.chmod(0o755)


def test_worker_script_starts_locust_with_the_newest_run_configuration(tmp_path: Path) -> None:
    """The worker runs Locust with the configuration the master wrote last, args passed on."""
    _fake_locust(tmp_path)
    for name, mtime in (("crm-load-old", 1_000_000), ("crm-load-new", 2_000_000)):
        config = tmp_path / name / "load-config.json"
        config.parent.mkdir()
        config.write_text("{}")
        os.utime(config, (mtime, mtime))
    env = {**os.environ, "TMPDIR": str(tmp_path), "PATH": f"{tmp_path}:{os.environ['PATH']}"}
    done = subprocess.run(
        ["sh", str(WORKER_SH), "-f", "scenarios/team_sync.py", "--worker"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    expected = tmp_path / "crm-load-new" / "load-config.json"
    assert f"config={expected} args=-f scenarios/team_sync.py --worker" in done.stdout


def test_worker_script_gives_up_clearly_without_a_master(tmp_path: Path) -> None:
    """No configuration ever appears: one line on stderr and a non-zero exit, not a hang."""
    _fake_locust(tmp_path)
    env = {**os.environ, "TMPDIR": str(tmp_path), "CRM_WORKER_WAIT_S": "1"}
    done = subprocess.run(
        ["sh", str(WORKER_SH), "--worker"], env=env, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 1
    assert "no run configuration" in done.stderr
    assert "config=" not in done.stdout


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    with start_server(jwt_secret=SECRET, data_dir=str(tmp_path / "data")) as running:
        yield running


@pytest.mark.slow
def test_master_and_remote_worker_share_only_tmpdir_and_the_run_dir(
    server: RunningServer, tmp_path: Path
) -> None:
    """EVT-1, EVT-2, STR-5: the worker's users connect, change records and receive them."""
    shared_tmp = tmp_path / "runs" / "tmp"
    shared_tmp.mkdir(parents=True)
    run_dir = tmp_path / "runs" / "compose-load"
    master_port = free_port()
    env = {
        **os.environ,
        "TMPDIR": str(shared_tmp),
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "CRM_WORKER_WAIT_S": "60",
    }
    worker = subprocess.Popen(
        ["sh", str(WORKER_SH), "-f", "scenarios/team_sync.py", "--worker",
         "--master-host", "127.0.0.1", "--master-port", str(master_port)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        master = subprocess.run(
            [str(Path(sys.executable).parent / "crm-harness"), "load", "--url", server.url,
             "--jwt-secret", SECRET, "--users", "6", "--spawn-rate", "6", "--duration", "4s",
             "--think-time", "1", "--users-per-team", "3", "--remote-workers", "1",
             "--master-bind-host", "127.0.0.1", "--master-bind-port", str(master_port),
             "--report", str(run_dir)],
            env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert master.returncode == 0, master.stdout + master.stderr
        assert worker.wait(timeout=30) == 0, worker.stderr.read() if worker.stderr else ""
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["users"] == 6
    assert summary["connect_errors"] == 0
    assert summary["deliveries"]["received"] > 0
    assert summary["loss"]["final"] == 0 and summary["duplicates"] == 0
    assert summary["isolation_leaks"] == 0
