"""`run_load`: one load run from config to run directory.

The controlling process stays free of gevent: it starts the reference server if asked, reads
the info document, then runs Locust as subprocesses (one standalone process, or a master and
`workers` worker processes; `locust_processes` starts and stops them), merges their part files
and writes `run.json` and `summary.json`.
"""

from __future__ import annotations

import functools
import json
import os
import resource
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

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
from .locust_processes import LocustPlan, run_locust
from .measure import ExtraOp
from .node_sampler import NodeSampler
from .process_context import effective_mix
from .recorder import merge_parts
from .target import worker_target

__all__ = ["SCENARIO_DIR", "raise_nofile", "run_load", "scenario_mix"]

SCENARIO_DIR = Path(__file__).resolve().parent.parent.parent / "scenarios"
_FDS_PER_SOCKET = 1
_FD_HEADROOM = 200  # REST pool, Locust's own sockets, files


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
            code, cpu_s = run_locust(LocustPlan(config, run_dir, config_path, scenario_file, url))
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
