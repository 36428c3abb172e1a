"""`crm-harness serve` and `python -m reference_server`: start, announce, stop cleanly, and
fail in one line (the CLI rules of CONTRIBUTING; INF-3 once listening)."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from harness.cli import main as cli_main
from harness.spec import HEALTH_PATH
from reference_server.config import ServerSettings, add_server_options, settings_from_args
from reference_server.launcher import free_port
from reference_server.shedding import Shedding

CLI = [sys.executable, "-m", "harness", "serve"]


def _assert_one_line_error(
    args: list[str], capsys: pytest.CaptureFixture[str], fragment: str
) -> None:
    """In-process: these fail before anything listens, so no subprocess is needed."""
    assert cli_main(["serve", *args]) == 2
    stderr = capsys.readouterr().err
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    assert lines[0].startswith("crm-harness serve: ") and fragment in lines[0]


@pytest.mark.parametrize("entry", ["crm-harness", "module"])
def test_serve_announces_then_stops_on_sigterm(tmp_path: Path, entry: str) -> None:
    """INF-3: serves once it prints `listening on`; SIGTERM stops it with exit code 0."""
    port = free_port()
    command = CLI if entry == "crm-harness" else [sys.executable, "-m", "reference_server"]
    process = subprocess.Popen(
        [*command, "--port", str(port), "--data-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.strip().endswith(f"listening on http://127.0.0.1:{port}")
        assert httpx.get(f"http://127.0.0.1:{port}{HEALTH_PATH}").json() == {"status": "ok"}
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0
        assert (tmp_path / "crm.sqlite3").exists()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_port_in_use_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A port already taken: one line, exit 2, no traceback."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        args = ["--port", str(port), "--data-dir", str(tmp_path)]
        _assert_one_line_error(args, capsys, "already in use")


@pytest.mark.parametrize(
    ("option", "value", "fragment"),
    [
        ("--database-url", "mysql://localhost/crm", "unsupported database URL"),
        ("--database-url", "postgresql://postgres@127.0.0.1:1/none", "cannot open the database"),
        ("--redis-url", "http://localhost", "unsupported Redis URL"),
        ("--burst", "-3", "must be > 0"),
        ("--log-level", "loud", "not a log level"),
        ("--max-connections", "-1", "must be ≥ 0"),
        ("--busy-retry-after-ms", "0", "must be ≥ 1"),
        ("--busy-retry-rate", "-1", "must be ≥ 0"),
        ("--busy-retry-after-max-ms", "0", "must be ≥ 1"),
    ],
)
def test_bad_settings_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str, value: str, fragment: str
) -> None:
    """Bad URLs and values: one clear line, exit 2, nothing started."""
    args = ["--port", "0", "--data-dir", str(tmp_path), f"{option}={value}"]
    _assert_one_line_error(args, capsys, fragment)


def test_options_beat_environment_beats_defaults() -> None:
    """INF-2: every limit is configurable, options first, then the environment."""
    import argparse

    parser = argparse.ArgumentParser()
    add_server_options(parser)
    env = {"JWT_SECRET": "from-env", "CRM_EDIT_LOCK_TTL": "7", "CRM_BURST": "9",
           "CRM_MAX_CONNECTIONS": "5000", "CRM_MAX_LOOP_LAG_MS": "900",
           "CRM_BUSY_RETRY_RATE": "40"}  # fmt: skip
    args = ["--burst", "4", "--ping-interval", "3000", "--max-loop-lag-ms", "800",
            "--busy-retry-after-max-ms", "30000"]  # fmt: skip
    settings = settings_from_args(parser.parse_args(args), env)
    assert settings.jwt_secret == "from-env"
    assert settings.shedding == Shedding(
        max_connections=5000, max_loop_lag_ms=800, busy_retry_rate=40, max_retry_after_ms=30000
    )
    assert settings.limits.editLockTtlSeconds == 7
    assert settings.limits.burst == 4
    assert settings.heartbeat.pingInterval == 3000
    assert settings.store_url.startswith("sqlite:////")
    rebuilt = settings_from_args(parser.parse_args(settings.to_cli_args()), {})
    assert rebuilt == settings
    assert ServerSettings().limits == settings_from_args(parser.parse_args([]), {}).limits


def test_help_names_the_overload_budgets(capsys: pytest.CaptureFixture[str]) -> None:
    """LIM-6: the shedding budgets are options of `serve`, with their environment variables."""
    with pytest.raises(SystemExit):
        cli_main(["serve", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    for text in ("--max-connections", "CRM_MAX_CONNECTIONS", "--max-loop-lag-ms",
                 "CRM_MAX_LOOP_LAG_MS", "--busy-retry-after-ms", "SERVER_BUSY",
                 "--busy-retry-rate", "CRM_BUSY_RETRY_RATE", "--busy-retry-after-max-ms",
                 "CRM_BUSY_RETRY_AFTER_MAX_MS"):  # fmt: skip
        assert text in shown, text
