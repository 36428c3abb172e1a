"""The compose load layout for real: `crm-harness load --remote-workers` started by
deploy/locust/master.sh and a worker started by deploy/locust/worker.sh, sharing only the run
directory, as the `locust-master` and `locust-worker` services do. EVT-1/EVT-2/STR-5 figures
come out of it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from deploy_commands import ROOT

from reference_server.launcher import RunningServer, free_port, start_server
from tests.pki import JwtKeys, TlsFiles

LOCUST_DIR = ROOT / "deploy" / "locust"
SECRET = "ship-locust-secret-of-32-bytes-long"


def _fake(bin_dir: Path, name: str) -> None:
    script = bin_dir / name
    script.write_text(f'#!/bin/sh\necho "{name} config=$CRM_LOAD_CONFIG args=$*"\n')
    script.chmod(0o755)


def _script_env(tmp_path: Path, config: Path, **extra: str) -> dict[str, str]:
    path = f"{tmp_path}:{os.environ['PATH']}"
    return {**os.environ, "PATH": path, "CRM_LOAD_CONFIG": str(config), **extra}


def _run_script(
    name: str, args: list[str], env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", str(LOCUST_DIR / name), *args], env=env, capture_output=True, text=True, timeout=30
    )


def test_master_script_removes_an_earlier_runs_configuration(tmp_path: Path) -> None:
    """A stale configuration on the volume is gone before the master runs (then exec)."""
    _fake(tmp_path, "crm-harness")
    stale = tmp_path / "run" / "load-config.json"
    stale.parent.mkdir()
    stale.write_text("{}")
    done = _run_script("master.sh", ["load", "--users", "3"], _script_env(tmp_path, stale))
    assert done.returncode == 0, done.stderr
    assert f"crm-harness config={stale} args=load --users 3" in done.stdout
    assert not stale.exists()


def test_worker_script_waits_for_the_configuration_then_runs_locust(tmp_path: Path) -> None:
    """The worker starts Locust only once the master's configuration exists, args passed on."""
    _fake(tmp_path, "locust")
    config = tmp_path / "run" / "load-config.json"
    config.parent.mkdir()
    worker = subprocess.Popen(
        ["sh", str(LOCUST_DIR / "worker.sh"), "-f", "scenarios/team_sync.py", "--worker"],
        env=_script_env(tmp_path, config),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(1.5)
        assert worker.poll() is None, "the worker did not wait for the configuration"
        config.write_text("{}")
        out, _ = worker.communicate(timeout=10)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    assert worker.returncode == 0
    assert f"locust config={config} args=-f scenarios/team_sync.py --worker" in out


def test_worker_script_gives_up_clearly_without_a_master(tmp_path: Path) -> None:
    """No configuration ever appears: one line on stderr and a non-zero exit, not a hang."""
    _fake(tmp_path, "locust")
    env = _script_env(tmp_path, tmp_path / "absent.json", CRM_WORKER_WAIT_S="1")
    done = _run_script("worker.sh", ["--worker"], env)
    assert done.returncode == 1
    assert "no run configuration" in done.stderr
    assert "locust config=" not in done.stdout


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    with start_server(jwt_secret=SECRET, data_dir=str(tmp_path / "data")) as running:
        yield running


def _master_and_remote_worker(url: str, target: list[str], tmp_path: Path) -> dict[str, Any]:
    """A run of master.sh and one worker.sh sharing only the run directory; its summary."""
    run_dir = tmp_path / "runs" / "compose-load"
    master_port = free_port()
    env = {
        **os.environ,
        "CRM_LOAD_CONFIG": str(run_dir / "load-config.json"),
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "CRM_WORKER_WAIT_S": "60",
    }
    env.pop("JWT_SECRET", None)  # the worker must need nothing but the run's config
    worker = subprocess.Popen(
        ["sh", str(LOCUST_DIR / "worker.sh"), "-f", "scenarios/team_sync.py", "--worker",
         "--master-host", "127.0.0.1", "--master-port", str(master_port)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        master = subprocess.run(
            ["sh", str(LOCUST_DIR / "master.sh"), "load", "--url", url, *target,
             "--users", "6", "--spawn-rate", "6", "--duration", "8s",
             "--think-time", "0.3", "--users-per-team", "3", "--remote-workers", "1",
             "--master-bind-host", "127.0.0.1", "--master-bind-port", str(master_port),
             "--report", str(run_dir)],
            env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert master.returncode == 0, master.stdout + master.stderr
        assert worker.wait(timeout=30) == 0, worker.stderr.read() if worker.stderr else ""
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    summary: dict[str, Any] = json.loads((run_dir / "summary.json").read_text())
    assert summary["users"] == 6
    assert summary["connect_errors"] == 0
    # The users act between joining and the deadline, which the master sets when the worker
    # starts spawning: on a loaded machine (load average 27) the remote worker's users joined
    # 3.5 s after it, so a 2 s run made no change at all. 20 changes/s for 8 s now.
    assert summary["changes"]["ok"] > 0, summary
    assert summary["deliveries"]["received"] > 0
    assert summary["loss"]["final"] == 0 and summary["duplicates"] == 0
    assert summary["isolation_leaks"] == 0
    return summary


@pytest.mark.slow
@pytest.mark.timeout(360)  # three processes start in turn; on a loaded machine over 2 min
def test_master_and_remote_worker_share_only_the_run_directory(
    server: RunningServer, tmp_path: Path
) -> None:
    """EVT-1, EVT-2, STR-5: the worker's users connect, change records and receive them."""
    _master_and_remote_worker(server.url, ["--jwt-secret", SECRET], tmp_path)


@pytest.mark.slow
@pytest.mark.timeout(360)
def test_a_remote_worker_gets_tls_tokens_and_headers_from_the_config_alone(
    tls_rs256_server: RunningServer, tls_files: TlsFiles, rs256_keys: JwtKeys, tmp_path: Path
) -> None:
    """Issue 11: over https with a private CA, RS256 tokens and an extra header, the remote
    worker reaches the server with only the run's config file (CA and key carried in it:
    their copies are gone before the worker starts its users)."""
    private = tmp_path / "idp" / "issuer.pem"
    ca = tmp_path / "idp" / "ca.pem"
    private.parent.mkdir()
    private.write_bytes(rs256_keys.private.read_bytes())
    ca.write_bytes(tls_files.ca.read_bytes())
    target = ["--ca-cert", str(ca), "--jwt-private-key", str(private),
              "--header", "X-Api-Key: k-1"]  # fmt: skip
    config = tmp_path / "runs" / "compose-load" / "load-config.json"
    gone: list[bool] = []

    def remove_copies_once_configured() -> None:
        deadline = time.monotonic() + 120
        while not config.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        private.unlink()
        ca.unlink()
        gone.append(True)

    remover = threading.Thread(target=remove_copies_once_configured, daemon=True)
    remover.start()
    _master_and_remote_worker(tls_rs256_server.url, target, tmp_path)
    remover.join(timeout=5)
    assert gone == [True]
    assert oct(config.stat().st_mode & 0o777) == "0o600"
