"""deploy/nginx/run.sh, the compose nginx service's entry, without Docker: fake `nginx` and
`getent` on PATH. nginx resolves upstream names only when it loads its configuration; the script
reloads it when a node's address changes (a restarted container), not while a node is missing
(nginx would refuse a configuration whose name does not resolve). CLU-1 behind the proxy.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from deploy_commands import ROOT

SCRIPT = ROOT / "deploy" / "nginx" / "run.sh"
CONF = ROOT / "deploy" / "nginx" / "nginx.conf"

# The fake nginx logs its arguments; run in the foreground it waits to be signalled.
FAKE_NGINX = """#!/bin/sh
echo "nginx $*" >> "$FAKE_LOG"
case "$*" in *"daemon off;"*) trap 'exit 0' TERM; while :; do sleep 0.1; done ;; esac
"""
# The fake getent answers from a file of "name address" lines (DNS as the test sets it).
FAKE_GETENT = """#!/bin/sh
[ "$1" = hosts ] || exit 2
awk -v n="$2" '$1 == n {print $2 "  " $1; found=1} END {exit !found}' "$FAKE_DNS"
"""


def _executable(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(0o755)


class RunningScript:
    def __init__(self, tmp_path: Path) -> None:
        self.dns = tmp_path / "dns"
        self.log = tmp_path / "log"
        self.log.touch()
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        _executable(bin_dir / "nginx", FAKE_NGINX)
        _executable(bin_dir / "getent", FAKE_GETENT)
        self.set_dns({"node-1": "10.9.0.2", "node-2": "10.9.0.3", "node-3": "10.9.0.4"})
        env = {
            **os.environ,
            "PATH": f"{bin_dir}:{os.environ['PATH']}",
            "FAKE_LOG": str(self.log),
            "FAKE_DNS": str(self.dns),
            "CRM_NGINX_CONF": str(CONF),
            "CRM_NGINX_RESOLVE_S": "0.2",
        }
        self.process = subprocess.Popen(["sh", str(SCRIPT)], env=env, stderr=subprocess.PIPE)

    def set_dns(self, addresses: dict[str, str]) -> None:
        staged = self.dns.with_suffix(".new")
        staged.write_text("".join(f"{name} {ip}\n" for name, ip in addresses.items()))
        staged.replace(self.dns)

    def reloads(self) -> int:
        return self.log.read_text().count("-s reload")

    def wait_for_reloads(self, count: int, seconds: float = 10) -> None:
        deadline = time.monotonic() + seconds
        while self.reloads() < count:
            assert self.process.poll() is None, "the script exited"
            assert time.monotonic() < deadline, f"{self.reloads()} reloads, expected {count}"
            time.sleep(0.05)


@pytest.fixture
def script(tmp_path: Path) -> Iterator[RunningScript]:
    running = RunningScript(tmp_path)
    yield running
    if running.process.poll() is None:
        running.process.kill()
        running.process.wait()


def test_nginx_starts_in_the_foreground_with_the_mounted_configuration(
    script: RunningScript,
) -> None:
    deadline = time.monotonic() + 10
    while "daemon off;" not in script.log.read_text():
        assert time.monotonic() < deadline, "nginx was not started"
        time.sleep(0.05)
    assert f"nginx -c {CONF} -g daemon off;" in script.log.read_text()


def test_a_node_on_a_new_address_reloads_nginx_once(script: RunningScript) -> None:
    """node-2 comes back on another address: one reload, and none while nothing changes."""
    time.sleep(1)  # five lookups with the same answers
    assert script.reloads() == 0
    script.set_dns({"node-1": "10.9.0.2", "node-2": "10.9.0.9", "node-3": "10.9.0.4"})
    script.wait_for_reloads(1)
    time.sleep(1)
    assert script.reloads() == 1


def test_no_reload_while_a_node_does_not_resolve(script: RunningScript) -> None:
    """A stopped node has no DNS entry: wait for it rather than reload into a refusal; reload
    once it is back on a new address."""
    script.set_dns({"node-1": "10.9.0.2", "node-3": "10.9.0.4"})
    time.sleep(1)
    assert script.reloads() == 0
    script.set_dns({"node-1": "10.9.0.2", "node-2": "10.9.0.7", "node-3": "10.9.0.4"})
    script.wait_for_reloads(1)


def test_sigterm_stops_nginx_and_the_script(script: RunningScript) -> None:
    """`docker stop` sends SIGTERM: nginx stops, and the script with it, without waiting out
    its sleep."""
    time.sleep(0.5)
    script.process.send_signal(signal.SIGTERM)
    assert script.process.wait(timeout=5) == 0
