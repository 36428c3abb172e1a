"""`run_load`: one load run from config to run directory.

The controlling process stays free of gevent: it starts the reference server if asked, reads
the info document, then runs Locust as subprocesses (one standalone process, or a master and
`workers` worker processes), merges their part files and writes `run.json` and
`summary.json`.
"""

from __future__ import annotations

import functools
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from subprocess import Popen

import psutil

from harness import HarnessError, UsageError
from harness.client import (
    Agent,
    ConnectionOptions,
    NodeFigures,
    TokenSource,
    fetch_info,
    scrape_node,
)
from harness.rundir import GENERATOR_CPU_KEY, NODE_METRICS_KEY, summarize

from .config import LoadConfig, check_metrics_port
from .measure import ExtraOp
from .node_sampler import NodeSampler
from .process_context import CLOSING_SYNC_SPREAD_MAX_S, effective_mix
from .recorder import merge_parts
from .target import worker_target

__all__ = ["SCENARIO_DIR", "raise_nofile", "run_load", "scenario_mix"]

SCENARIO_DIR = Path(__file__).resolve().parent.parent.parent / "scenarios"
_FDS_PER_SOCKET = 1
_FD_HEADROOM = 200  # REST pool, Locust's own sockets, files
_LOCUST_GRACE_S = 60.0
_MASTER_LISTEN_TIMEOUT_S = 60.0  # importing Locust on a busy machine
_MASTER_PORT_ATTEMPTS = 5


def raise_nofile(users_per_process: int, second_tab_share: float) -> tuple[int, int]:
    """Raise the soft RLIMIT_NOFILE as far as the hard limit allows; UsageError if too low."""
    need = int(users_per_process * (1 + second_tab_share) * _FDS_PER_SOCKET) + _FD_HEADROOM
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, need)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    if soft < need:
        raise UsageError(
            f"open-file limit {soft} (hard {hard}) is too low for {users_per_process} users per "
            f"process (~{need} sockets); raise it (ulimit -n) or add --workers"
        )
    return soft, need


def scenario_mix(config: LoadConfig, profiles: list[str]) -> tuple[dict[str, float], list[str]]:
    """The action mix the scenario asks for, minus what the server's profiles cannot serve."""
    mix = dict(config.workload.action_mix)
    notes: list[str] = []
    if config.scenario == "ai_tasks":
        mix.setdefault(ExtraOp.AI_TASK.value, 0.3)
        if "ai" not in profiles:
            notes.append(
                "ai_tasks: the server does not declare the `ai` profile (SPEC §11); "
                "this run measures data events only, no AI task actions"
            )
    out, dropped = effective_mix(mix, profiles)
    return out, notes + dropped


@dataclass(slots=True)
class _Plan:
    config: LoadConfig
    run_dir: Path
    config_path: Path
    scenario_file: Path
    host: str  # the first node: what Locust shows as the target


def _base_command(plan: _Plan) -> list[str]:
    base = [sys.executable, "-m", "locust", "-f", str(plan.scenario_file), "-H", plan.host]
    base += ["--loglevel", "WARNING", "--only-summary", "--stop-timeout", "0"]
    return base


def _lead_command(plan: _Plan, port: int) -> list[str]:
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


def _worker_command(plan: _Plan, port: int) -> list[str]:
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


def _start_master(plan: _Plan, env: dict[str, str], out: int | None) -> tuple[Popen[bytes], int]:
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


def _start_locust(plan: _Plan, env: dict[str, str], out: int | None) -> list[Popen[bytes]]:
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


def _run_locust(plan: _Plan) -> tuple[int, float]:
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


def _default_run_dir() -> Path:
    return Path("reports") / time.strftime("load-%Y%m%d-%H%M%S")


def _start_target(
    config: LoadConfig, tokens: TokenSource, stack: ExitStack, scratch: Path
) -> list[str]:
    """Start the bundled reference server for the run (`stack` stops it), accepting what
    `tokens` mints; its node URLs.

    Given Redis and a database, it is a local cluster of `config.nodes` on them (one node
    too, so that runs of several node counts compare like with like).
    """
    from harness.bundled_server import bundled_server, verifying

    cluster = bool(config.redis_url and config.database_url)
    bundled = bundled_server(cluster=cluster, alternative="or give --url")
    verify = verifying(tokens, scratch)
    if cluster:
        assert config.redis_url is not None and config.database_url is not None
        nodes = bundled.start_cluster(
            config.nodes,
            config.redis_url,
            config.database_url,
            redis_prefix=config.redis_prefix,
            **verify,
        )
        stack.callback(nodes.stop)
        return nodes.urls
    server = bundled.start_server(**verify)
    stack.callback(server.close)
    return [server.url]


def _scrape(url: str, options: ConnectionOptions) -> NodeFigures | None:
    return scrape_node(url, options, timeout=3.0)


def _check_tokens(tokens: TokenSource) -> None:
    """One token before any user starts: a token command that fails fails the run here, in
    one line (exit 2), not once per user."""
    tokens.mint(Agent("u-preflight", "t-preflight", "b-preflight", "Preflight"), ttl_seconds=60)


def _write_private(path: Path, text: str) -> None:
    """Readable by its owner only (the load config holds the run's token secret or key), and
    whole when it appears: remote workers start as soon as it exists."""
    partial = path.with_name(path.name + ".partial")
    partial.unlink(missing_ok=True)
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.replace(partial, path)


def run_load(config: LoadConfig) -> Path:
    """Run one load test; returns the run directory (run.json, CSVs, summary.json)."""
    if config.metrics_port is not None:
        check_metrics_port(config.metrics_host, config.metrics_port)
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="crm-load-")))
        tokens = config.tokens()
        urls = list(config.urls) or _start_target(config, tokens, stack, tmp)
        url = urls[0]
        connection = config.connection(urls)
        # Every node must answer before users spread over them; the first one's info rules.
        infos = [fetch_info(node_url, connection.options) for node_url in urls]
        info = infos[0]
        _check_tokens(tokens)
        profiles = [str(p) for p in info.get("profiles", ["core"])]
        per_process = -(-config.users // config.generator_processes)
        raise_nofile(per_process, config.workload.second_tab_share)
        mix, notes = scenario_mix(config, profiles)
        if config.workers_auto and config.workers:
            print(
                f"crm-harness load: {config.users:,} users over {config.workers} generator "
                f"processes (Locust master + {config.workers} local workers, one per "
                f"{config.users_per_process:,} users, at most one per core; --workers sets it)",
                file=sys.stderr,
            )
        for note in notes:
            print(f"crm-harness load: NOTE {note}", file=sys.stderr)
        run_dir = (config.report_dir or _default_run_dir()).resolve()
        run_dir.mkdir(parents=True, exist_ok=True)
        for stale in (run_dir / "parts").glob("*.csv"):
            stale.unlink()
        process_config = {
            "url": url,
            "urls": urls,
            "target": worker_target(config.target, tokens),
            "run_id": uuid.uuid4().hex[:8],
            "scenario": config.scenario,
            "workers": config.generator_processes,
            "users": config.users,
            "duration_s": config.duration_s,
            "run_dir": str(run_dir),
            "workload": config.workload.to_json(),
            "profiles": profiles,
            "mix": mix,
            "metrics_host": config.metrics_host,
            "metrics_port": config.metrics_port,
            "web": config.web,  # Locust's own request stats are kept for its web UI only
        }
        # Remote workers need the config (the target's secrets included) where they can read
        # it: the run directory, which they must share anyway for their part files.
        config_path = (run_dir if config.remote_workers else tmp) / "load-config.json"
        _write_private(config_path, json.dumps(process_config))
        scenario_file = SCENARIO_DIR / f"{config.scenario}.py"
        if config.remote_workers:
            print(
                f"crm-harness load: waiting for {config.remote_workers} remote worker(s); on "
                f"each run: CRM_LOAD_CONFIG={config_path} locust -f {scenario_file} --worker "
                f"--master-host <this host> --master-port {config.master_bind_port} "
                f"(note: {config_path} holds the run's token secret or key and header values)",
                file=sys.stderr,
            )
        started_at = time.time()
        # The nodes' /metrics as the users reach them: TLS trust and gateway headers too.
        sampler = NodeSampler(urls, scrape=functools.partial(_scrape, options=connection.options))
        sampler.start()
        try:
            code, cpu_s = _run_locust(_Plan(config, run_dir, config_path, scenario_file, url))
        finally:
            node_metrics = sampler.stop()
        ended_at = time.time()
        written = merge_parts(run_dir)
        if code != 0 and written.get("users", 0) == 0:
            raise HarnessError(
                f"the load generator failed before any user started (Locust exit {code}); "
                "see its output above"
            )
        run_info = {
            "scenario": config.scenario,
            "url": url,
            "urls": urls,
            "nodes": len(urls),
            "users": config.users,
            "spawn_rate": config.spawn_rate,
            "duration_s": config.duration_s,
            "workers": config.generator_processes,
            "started_at": started_at,
            "ended_at": ended_at,
            "server_info": info,
            "config": {k: v for k, v in process_config.items() if k != "target"},
            "tokens": tokens.algorithm or "token command",
            "notes": notes,
            "locust_exit_code": code,
            NODE_METRICS_KEY: node_metrics,
            # Remote workers' CPU is counted on their machines: then their samples tell.
            GENERATOR_CPU_KEY: None if config.remote_workers else round(cpu_s, 2),
        }
        (run_dir / "run.json").write_text(json.dumps(run_info, indent=2))
        summary = summarize(run_dir)
        (run_dir / "summary.json").write_text(json.dumps(summary, indent=2))
        return run_dir
    raise AssertionError("unreachable")  # ExitStack does not swallow exceptions
