"""Listeners on Locust's events that wire the load engine into each Locust process: the
process's context and recorder, the clock, live progress and the stop.

Imported by the scenario files (inside Locust processes only: it imports gevent and locust).
Standalone or master/worker alike: every generator process (standalone or worker) records
its parts; the master (or the standalone process) owns the deadline, prints live progress
every few seconds from the workers' reports, and quits once every user has done its closing
sync (or the sync timeout passed).
"""

from __future__ import annotations

import json
import os
import time
import warnings
from pathlib import Path
from typing import Any

import gevent
from locust import events
from locust import runners as locust_runners
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from .health_sampler import sample_health
from .live_metrics import serve_live_metrics
from .measure import MEASUREMENTS
from .process_context import ProcessContext
from .progress import Progress
from .recorder import CsvRecorder
from .rest import NodeRestPools
from .target import worker_connection
from .workload import Workload

__all__ = ["CONFIG_ENV", "STATE", "ProcessState", "current_context"]

# Test tokens for a server's own secret: PyJWT's advice on key length is the server
# operator's business and would otherwise repeat in every generator process.
warnings.filterwarnings("ignore", message="The HMAC key is")

# A worker starved of CPU (a busy machine, containers sharing two cores) can go several seconds
# without running its heartbeat greenlet, e.g. while its init handler builds its context. The
# master would call it missing after Locust's 3 s and never give it users (seen: a compose run
# whose two workers lagged 7-12 s at start ran 0 of 500 users). Slow is not dead: the master
# waits this many seconds of silence (it reads the module global at run time).
locust_runners.HEARTBEAT_LIVENESS = 20

CONFIG_ENV = "CRM_LOAD_CONFIG"
_DEADLINE_MESSAGE = "crm_deadline"
_REPORT_KEY = "crm_load"


class ProcessState:
    def __init__(self) -> None:
        self.config: dict[str, Any] = {}
        self.ctx: ProcessContext | None = None
        self.recorder: CsvRecorder | None = None
        self.progress: Progress | None = None
        self.environment: Environment | None = None


STATE = ProcessState()


def current_context() -> ProcessContext:
    if STATE.ctx is None:
        raise RuntimeError(f"no load context: run through `crm-harness load` (set {CONFIG_ENV})")
    return STATE.ctx


def _read_config() -> dict[str, Any]:
    path = os.environ.get(CONFIG_ENV)
    if not path:
        raise RuntimeError(f"{CONFIG_ENV} is not set: run scenarios through `crm-harness load`")
    data: dict[str, Any] = json.loads(Path(path).read_text())
    return data


def _set_deadline(deadline: float) -> None:
    if STATE.ctx is not None:
        STATE.ctx.deadline = deadline


@events.init.add_listener
def _on_init(environment: Environment, **_: Any) -> None:
    config = _read_config()
    STATE.config = config
    STATE.environment = environment
    runner = environment.runner
    if not isinstance(runner, MasterRunner):
        worker = runner.worker_index if isinstance(runner, WorkerRunner) else 0
        workers = max(int(config["workers"]), 1)
        workload = Workload.from_json(config["workload"])
        node_urls = tuple(config.get("urls") or [config["url"]])
        connection = worker_connection(config["target"], node_urls)
        ctx = ProcessContext(
            url=node_urls[0],
            node_urls=node_urls,
            tokens=connection.tokens,
            options=connection.options,
            workload=workload,
            run_id=config["run_id"],
            scenario=config["scenario"],
            worker=max(worker, 0),
            workers=workers,
            users=int(config["users"]),
            profiles=list(config.get("profiles", ["core"])),
            rest=NodeRestPools(
                node_urls,
                concurrency=workload.pool_size(-(-int(config["users"]) // workers)),
                timeout=workload.ack_timeout_s,
                options=connection.options,
            ),
            mix=dict(config.get("mix") or {}),
        )
        STATE.ctx = ctx
        STATE.recorder = CsvRecorder(Path(config["run_dir"]), ctx.worker)
        MEASUREMENTS.add_listener(STATE.recorder)
        MEASUREMENTS.add_listener(ctx.counters)
        gevent.spawn(sample_health, ctx)
    if isinstance(runner, WorkerRunner):
        runner.register_message(
            _DEADLINE_MESSAGE, lambda msg, **_: _set_deadline(msg.data["deadline"])
        )
    else:
        counters = STATE.ctx.counters if STATE.ctx is not None else None
        STATE.progress = Progress(config, environment, counters)
        if config.get("metrics_port"):
            serve_live_metrics(STATE.progress, config)


@events.test_start.add_listener
def _on_test_start(environment: Environment, **_: Any) -> None:
    runner = environment.runner
    if isinstance(runner, WorkerRunner):
        return
    deadline = time.time() + float(STATE.config["duration_s"])
    _set_deadline(deadline)
    if isinstance(runner, MasterRunner):
        runner.send_message(_DEADLINE_MESSAGE, {"deadline": deadline})
    if STATE.progress is not None:
        STATE.progress.start(deadline)


@events.report_to_master.add_listener
def _on_report(client_id: str, data: dict[str, Any], **_: Any) -> None:
    if STATE.ctx is not None:
        data[_REPORT_KEY] = STATE.ctx.counters.snapshot()


@events.worker_report.add_listener
def _on_worker_report(client_id: str, data: dict[str, Any], **_: Any) -> None:
    if STATE.progress is not None and _REPORT_KEY in data:
        STATE.progress.update(client_id, data[_REPORT_KEY])


@events.quitting.add_listener
def _on_quitting(environment: Environment, **_: Any) -> None:
    if STATE.recorder is not None:
        STATE.recorder.close()
