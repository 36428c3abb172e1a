"""`crm-harness load` usage errors: one line on stderr, exit 2, no traceback, nothing run."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from harness.cli import main
from harness.load import LoadConfig
from harness.load.config import AUTO_WORKERS, auto_workers


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


_CLUSTER_ON_SQLITE = ["--nodes", "2", "--redis-url", "redis://127.0.0.1:1",
                      "--database-url", "sqlite:///x.db"]  # fmt: skip


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--users", "0"], "--users"),
        (["--users", "many"], "invalid int"),
        (["--duration", "soon"], "--duration"),
        (["--spawn-rate", "0"], "--spawn-rate"),
        (["--scenario", "nope"], "invalid choice"),
        (["--url", "http://127.0.0.1:1"], "--jwt-secret"),
        (["--workload", "/nonexistent/w.toml"], "cannot read"),
        (["--bogus"], "unrecognized"),
        (["--nodes", "0"], "--nodes"),
        (["--nodes", "2"], "--redis-url"),
        (_CLUSTER_ON_SQLITE, "postgresql"),
        (["--nodes", "2", "--url", "http://127.0.0.1:1", "--jwt-secret", "s"], "not both"),
        (["--url", "http://127.0.0.1:1", "--url", "ws://b", "--jwt-secret", "s"], "http://"),
        (["--metrics-port", "70000"], "--metrics-port"),
        (["--metrics-port", "0"], "--metrics-port"),
        (["--metrics-port", "http"], "invalid int"),
        (["--workers", "some"], "'auto'"),
        (["--workers", "-1"], "'auto'"),
        (["--users-per-process", "0"], "--users-per-process"),
    ],
)
def test_usage_errors_exit_2(
    argv: list[str], fragment: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """CLI, CLU-1: bad options (a cluster without its backends, --nodes with --url) → one
    line, exit 2, no run directory written."""
    report = tmp_path / "run"
    try:
        code = main(["load", "--report", str(report), *argv])
    except SystemExit as exc:  # argparse's own refusals
        code = int(exc.code or 0)
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert fragment in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert not report.exists()


def test_unreachable_url_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """INF-1: a URL where no server answers → one line naming it, exit 2."""
    url = f"http://127.0.0.1:{_closed_port()}"
    report = tmp_path / "run"
    code = main(["load", "--url", url, "--jwt-secret", "s", "--report", str(report)])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert url in err and len(err.splitlines()) == 1
    assert not report.exists()


def test_metrics_port_in_use_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """CLI: --metrics-port on a port another process listens on → one line naming it, exit 2,
    before any server or generator starts."""
    report = tmp_path / "run"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = main(["load", "--metrics-port", str(port), "--report", str(report)])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert f"--metrics-port {port}" in err and "in use" in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert not report.exists()


@pytest.mark.parametrize(
    ("users", "per_process", "cores", "workers"),
    [
        (4000, 4000, 8, 0),  # one process holds them
        (4001, 4000, 8, 2),
        (10_000, 4000, 8, 3),
        (10_000, 4000, 2, 2),  # at most one per core
        (10_000, 4000, 1, 0),  # a second process on one core only adds switching
    ],
)
def test_auto_workers(users: int, per_process: int, cores: int, workers: int) -> None:
    """Issue 13 item 2: more generator processes only when one is not enough."""
    assert auto_workers(users, per_process, cores) == workers


def test_workers_auto_is_the_default_and_leaves_remote_plans_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("harness.load.config.os.cpu_count", lambda: 4)
    auto = LoadConfig(users=10_000, spawn_rate=100, duration_s=60, workers=AUTO_WORKERS)
    assert (auto.workers, auto.workers_auto, auto.generator_processes) == (3, True, 3)
    assert LoadConfig(users=10_000, spawn_rate=100, duration_s=60).workers == 0  # API: as given
    remote = LoadConfig(users=10_000, spawn_rate=100, duration_s=60, workers=AUTO_WORKERS,
                        remote_workers=2)  # fmt: skip
    assert (remote.workers, remote.generator_processes) == (0, 2)
