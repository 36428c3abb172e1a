"""`make demo` (scripts/demo.py) end to end against the real reference server, made small:
its reports and verdicts, and that the server is stopped on success, on a failed step and on
Ctrl-C. INF-1/INF-3 (the demo waits on /healthz), EVT-1/STR-5 through the load run's figures.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from deploy_commands import ROOT, require_subcommands

pytestmark = pytest.mark.slow

DEMO = ROOT / "scripts" / "demo.py"
SERVER_UP = re.compile(r"reference server up at (http://\S+)")
# A small, quick demo: a few users acting every second instead of every 50 s.
SMALL = ["--users", "6", "--spawn-rate", "6", "--duration", "2s", "--load-arg=--think-time",
         "--load-arg=1", "--load-arg=--users-per-team", "--load-arg=3"]  # fmt: skip
CONFORM_SUBSET = ["--conform-arg=--req", "--conform-arg=INF-1,INF-3"]
MARKER = "CRM_SHIP_DEMO_RUN"


def _demo(reports: Path, *args: str) -> list[str]:
    return [sys.executable, str(DEMO), "--reports", str(reports), *args]


def _marked_env(reports: Path) -> dict[str, str]:
    """The environment of a demo run, marked so that every process it starts can be found."""
    return {**os.environ, MARKER: str(reports)}


def _processes_left(reports: Path) -> list[int]:
    """Processes still alive that the demo run of `reports` started (they inherit MARKER)."""
    needle = f"{MARKER}={reports}".encode() + b"\0"
    left = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if needle in environ.read_bytes() + b"\0":
                left.append(int(environ.parent.name))
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return left


def _assert_nothing_left(reports: Path) -> None:
    if not Path("/proc/self/environ").exists():
        return  # no procfs: the closed server port is the check that remains
    deadline = time.monotonic() + 5
    while (left := _processes_left(reports)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not left, f"processes of the demo still running: {left}"


def _server_url(output: str) -> str:
    match = SERVER_UP.search(output)
    assert match, f"the demo never said where the server is:\n{output}"
    return match.group(1)


def _is_listening(url: str) -> bool:
    parts = urlsplit(url)
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((str(parts.hostname), int(parts.port or 80))) == 0


def test_demo_writes_both_reports_prints_verdicts_and_stops_the_server(tmp_path: Path) -> None:
    """INF-3, EVT-1, STR-5: conformance and load reports with their verdicts; server gone."""
    require_subcommands("serve", "conform", "load", "report")
    done = subprocess.run(
        _demo(tmp_path, *SMALL, *CONFORM_SUBSET),
        capture_output=True,
        text=True,
        timeout=240,
        cwd=tmp_path,
        env=_marked_env(tmp_path),
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert (tmp_path / "conformance" / "report.json").is_file()
    assert (tmp_path / "conformance" / "report.html").is_file()
    assert (tmp_path / "load" / "summary.json").is_file()
    assert (tmp_path / "load" / "report.html").is_file()
    results = output[output.index("Demo results") :]
    assert re.search(r"conformance\s+PASS \(.*\d+ pass", results), results
    assert re.search(r"load\s+PASS \(.*loss 0", results), results
    assert str(tmp_path / "load" / "report.html") in results
    assert not _is_listening(_server_url(output))
    _assert_nothing_left(tmp_path)


def test_a_failing_step_fails_the_demo_and_still_stops_the_server(tmp_path: Path) -> None:
    """A step that fails (here: options the commands refuse) gives a non-zero exit."""
    done = subprocess.run(
        _demo(
            tmp_path,
            "--conform-demo-server",
            "--conform-arg=--no-such-option",
            "--load-arg=--no-such-option",
        ),
        capture_output=True,
        text=True,
        timeout=120,
        env=_marked_env(tmp_path),
    )
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert re.search(r"conformance\s+ERROR", output)
    assert "reference server stopped" in output
    assert not _is_listening(_server_url(output))
    _assert_nothing_left(tmp_path)


@pytest.mark.parametrize(
    ("interrupt", "exit_code"),
    [
        pytest.param(lambda pid: os.killpg(pid, signal.SIGINT), 130, id="ctrl-c"),
        pytest.param(lambda pid: os.kill(pid, signal.SIGTERM), 128 + signal.SIGTERM, id="sigterm"),
    ],
)
def test_an_interrupted_demo_leaves_nothing_running(
    tmp_path: Path, interrupt: Callable[[int], None], exit_code: int
) -> None:
    """Ctrl-C (SIGINT to the terminal's foreground group) or SIGTERM to the demo in the middle
    of the load: the demo's exit status, and no server, load or Locust process left behind."""
    demo = subprocess.Popen(
        _demo(tmp_path, "--users", "4", "--duration", "120s", "--conform-arg=--no-such-option"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=_marked_env(tmp_path),
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )
    assert demo.stdout is not None
    seen: list[str] = []
    try:
        for line in demo.stdout:
            seen.append(line)
            if line.startswith("$ ") and " load " in line:
                break
        time.sleep(3)  # well inside the load run: Locust is up
        interrupt(demo.pid)
        rest, _ = demo.communicate(timeout=60)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
    output = "".join(seen) + rest
    assert demo.returncode == exit_code, output
    assert "reference server stopped" in output
    assert not _is_listening(_server_url(output))
    _assert_nothing_left(tmp_path)
