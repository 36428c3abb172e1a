"""A running load's own figures on a Prometheus endpoint (`crm-harness load --metrics-port`).

Served by the process that owns live progress: the standalone process, or the master, which
already totals what every worker reports (Locust's `worker_report` event, every few seconds):
one endpoint per run whatever the number of workers, local or remote, so a Prometheus job
needs one target. The figures are read from `Progress` at each scrape; nothing is computed
that the terminal's progress line does not compute too.

Counters (`_total`) go up for the whole run; gauges are now or over the recent window
(`RECENT_WINDOW_S`). Run-wide figures come from the run directory at the end (summary.json):
these are for watching a run, not for judging it.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from harness.rundir import quantiles

from .progress import Progress
from .recorder import RECENT_WINDOW_S

__all__ = ["LIVE_QUANTILES", "PREFIX", "LiveCollector", "serve_live_metrics"]

PREFIX = "crm_load_"
LIVE_QUANTILES = (0.5, 0.95, 0.99)
_WINDOW = f"over the last {RECENT_WINDOW_S:g} s"
# (totals key, metric name without _total, help): what every process counts, summed
_COUNTERS = (
    ("changes_sent", "changes_sent", "Change actions sent"),
    ("changes_ok", "changes_ok", "Change actions acknowledged"),
    ("deliveries", "deliveries", "Events received by the simulated users' sockets"),
    ("gaps", "gaps", "Sequence gaps the sockets saw live (live loss so far)"),
    ("final_missing", "final_missing", "Events still missing after the closing sync"),
    ("duplicates", "duplicates", "Events a socket received twice"),
    ("leaks", "leaks", "Isolation or redaction leaks"),
    ("connect_errors", "connect_errors", "Failed connects"),
)


class LiveCollector(Collector):
    def __init__(self, progress: Progress, users: int) -> None:
        self.progress = progress
        self.users = users

    def collect(self) -> Iterator[Metric]:
        totals = self.progress.totals()
        now = time.time()
        yield GaugeMetricFamily(
            f"{PREFIX}connected_users", "Simulated users connected now",
            value=totals["connected_users"],
        )  # fmt: skip
        yield GaugeMetricFamily(f"{PREFIX}users", "Simulated users the run asks for",
                                value=self.users)  # fmt: skip
        for key, name, doc in _COUNTERS:
            yield CounterMetricFamily(f"{PREFIX}{name}", doc, value=totals[key])
        changes, deliveries = self.progress.rates(totals, now)
        for name, doc, rate in (
            ("changes_per_second", f"Changes acknowledged per second {_WINDOW}", changes),
            ("deliveries_per_second", f"Deliveries per second {_WINDOW}", deliveries),
        ):
            family = GaugeMetricFamily(f"{PREFIX}{name}", doc)
            if rate is not None:
                family.add_metric([], rate)
            yield family
        for name, what, values in (
            ("e2e_latency_ms", "actor's send → recipient's receive", totals["e2e"]),
            ("fanout_latency_ms", "server timestamp → recipient's receive", totals["fanout"]),
        ):
            family = GaugeMetricFamily(f"{PREFIX}{name}", f"{what}, ms, {_WINDOW}",
                                       labels=["quantile"])  # fmt: skip
            found = quantiles(values, LIVE_QUANTILES)
            for q, value in zip(LIVE_QUANTILES, found or (), strict=False):
                family.add_metric([f"{q:g}"], value)
            yield family
        cpu = GaugeMetricFamily(f"{PREFIX}generator_cpu_percent",
                                "CPU of each generator process at its last health sample",
                                labels=["process"])  # fmt: skip
        for process, snapshot in sorted(self.progress.snapshots().items()):
            percent = snapshot.get("cpu_percent")
            if isinstance(percent, int | float):
                cpu.add_metric([process], float(percent))
        yield cpu


def serve_live_metrics(progress: Progress, config: dict[str, Any]) -> None:
    """Serve the endpoint on the run's --metrics-host/--metrics-port in this (gevent) process.
    A port taken since the controlling process checked it costs the endpoint, not the run."""
    from gevent.pywsgi import WSGIServer

    registry = CollectorRegistry(auto_describe=False)
    registry.register(LiveCollector(progress, int(config["users"])))
    host, port = str(config.get("metrics_host") or "127.0.0.1"), int(config["metrics_port"])
    server = WSGIServer((host, port), make_wsgi_app(registry), log=None, error_log=None)
    try:
        server.start()
    except OSError as exc:
        print(f"crm-harness load: live metrics not served on {host}:{port} ({exc})",
              file=sys.stderr, flush=True)  # fmt: skip
