"""The Locust processes of one load run: the standalone process, or a master and its local
workers; the master's port, and the wait for Locust to finish within the run's time budget.

`run_controller` plans the run and reads what these processes write; this module only starts,
waits for and stops them.
"""

from __future__ import annotations

import os
import resource
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from subprocess import Popen

import psutil

from harness import HarnessError

from .config import LoadConfig
from .process_context import CLOSING_SYNC_SPREAD_MAX_S

__all__ = ["LocustPlan", "run_locust"]

_LOCUST_GRACE_S = 60.0
_MASTER_LISTEN_TIMEOUT_S = 60.0  # importing Locust on a busy machine
_MASTER_PORT_ATTEMPTS = 5


@dataclass(slots=True)
class LocustPlan:
    """What the run's Locust processes are started with."""

    config: LoadConfig
    run_dir: Path
    config_path: Path
    scenario_file: Path
    host: str  # the first node: what Locust shows as the target


def _base_command(plan: LocustPlan) -> list[str]:
    base = [sys.executable, "-m", "locust", "-f", str(plan.scenario_file), "-H", plan.host]
    base += ["--loglevel", "WARNING", "--only-summary", "--stop-timeout", "0"]
    return base


def _lead_command(plan: LocustPlan, port: int) -> list[str]:
    """The standalone process, or the master listening on `port`."""
    c = plan.config
    ui = ["--web-port", str(c.web_port)] if c.web else ["--headless"]
    lead = _base_command(plan) + ui + ["-u", str(c.users), "-r", str(c.spawn_rate)]
    if not c.distributed:
        return lead
    lead += ["--master", "--master-bind-host", c.master_bind_host]
    lead += ["--master-bind-port", str(port)]
    lead += ["--expect-workers", str(c.workers + c.remote_workers)]
    return lead


def _worker_command(plan: LocustPlan, port: int) -> list[str]:
    return [
        *_base_command(plan),
        "--worker",
        "--master-host",
        "127.0.0.1",
        "--master-port",
        str(port),
    ]


def _free_port(host: str) -> int:
    """A port free right now; another process may take it before the master binds it (see
    `_start_master`)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _listens(pid: int, port: int) -> bool:
    """Process `pid` itself holds the listening socket on `port`."""
    try:
        proc = psutil.Process(pid)
        # net_connections() since psutil 6; connections() before.
        conns = getattr(proc, "net_connections", proc.connections)(kind="tcp")
    except psutil.Error:
        return False
    return any(c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port for c in conns)


def _start_master(
    plan: LocustPlan, env: dict[str, str], out: int | None
) -> tuple[Popen[bytes], int]:
    """The master, once it listens on its port itself; the port.

    Local workers start only then: a port found free can be taken by another run's master
    before ours binds it, and our workers would join that run. Without a port given, a
    master that lost its port is started again on another one.
    """
    given = plan.config.master_bind_port
    for attempt in range(1, _MASTER_PORT_ATTEMPTS + 1):
        port = given or _free_port(plan.config.master_bind_host)
        master = Popen(_lead_command(plan, port), env=env, stdout=out, stderr=out)
        deadline = time.monotonic() + _MASTER_LISTEN_TIMEOUT_S
        while master.poll() is None and time.monotonic() < deadline:
            if _listens(master.pid, port):
                return master, port
            time.sleep(0.1)
        if master.poll() is None:
            master.kill()
            master.wait()
            raise HarnessError(
                f"the Locust master did not listen on port {port} "
                f"in {_MASTER_LISTEN_TIMEOUT_S:.0f} s"
            )
        if given or attempt == _MASTER_PORT_ATTEMPTS:
            return master, port  # it exited: its code says why; no worker joins anything
    raise AssertionError("unreachable")


def _start_locust(plan: LocustPlan, env: dict[str, str], out: int | None) -> list[Popen[bytes]]:
    """The standalone process, or the master then its local workers; the lead comes first."""
    if not plan.config.distributed:
        return [Popen(_lead_command(plan, 0), env=env, stdout=out, stderr=out)]
    master, port = _start_master(plan, env, out)
    if master.poll() is not None:
        return [master]
    workers = [
        Popen(_worker_command(plan, port), env=env, stdout=out, stderr=out)
        for _ in range(plan.config.workers)
    ]
    return [master, *workers]


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_locust(plan: LocustPlan) -> tuple[int, float]:
    """Locust's exit code, and the CPU-seconds its processes spent (the kernel's count for
    every process waited for meanwhile: the Locust processes, and their own children)."""
    c = plan.config
    env = {**os.environ, "CRM_LOAD_CONFIG": str(plan.config_path), "PYTHONUNBUFFERED": "1"}
    ramp = c.users / c.spawn_rate
    w = c.workload
    budget = c.duration_s + ramp + w.drain_s + w.final_sync_timeout_s + _LOCUST_GRACE_S
    budget += CLOSING_SYNC_SPREAD_MAX_S
    if c.web:
        budget = float("inf")  # the user drives the UI
    out = subprocess.DEVNULL if c.quiet else None
    cpu_before = _children_cpu_s()
    procs = _start_locust(plan, env, out)
    master = procs[0]
    try:
        master.wait(timeout=None if budget == float("inf") else budget)
    except subprocess.TimeoutExpired:
        print("crm-harness load: Locust overran its time budget; stopping it", file=sys.stderr)
    finally:
        for proc in procs:
            if proc.poll() is None:
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
    cpu_s = _children_cpu_s() - cpu_before
    return (master.returncode if master.returncode is not None else -1), cpu_s
