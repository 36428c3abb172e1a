"""`crm-harness load --metrics-port`: a running load's own figures on a Prometheus endpoint,
scraped while it runs, moving, and consistent with the summary.json the run ends with."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.slow

USERS = 6
_DEADLINE_S = 240.0  # the bundled server's start and Locust's on a busy machine, then the run
_COUNTERS = ("changes_sent", "changes_ok", "deliveries", "gaps", "final_missing", "duplicates",
             "leaks", "connect_errors")  # fmt: skip


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _scrape(url: str) -> dict[str, float] | None:
    """{sample name with its labels: value} of the crm_load_* samples; None: no answer."""
    try:
        response = httpx.get(url, timeout=2.0)
    except httpx.HTTPError:
        return None
    samples: dict[str, float] = {}
    for family in text_string_to_metric_families(response.text):
        for s in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
            samples[s.name + (f"{{{labels}}}" if labels else "")] = s.value
    return {k: v for k, v in samples.items() if k.startswith("crm_load_")}


@pytest.mark.parametrize("workers", [0, 2])
def test_live_figures_move_and_agree_with_the_summary(tmp_path: Path, workers: int) -> None:
    """A 6-user run with --metrics-port, in one process or a master and 2 workers (the master
    serves what the workers report): while it runs the endpoint shows every user connected,
    counters that only go up and do go up, rates, e2e and fan-out percentiles of the recent
    window and each generator process's CPU; the last scrape never exceeds the final
    summary.json, whose connected-users peak it saw."""
    port = _free_port()
    run_dir = tmp_path / "run"
    log = (tmp_path / "load.log").open("wb")
    command = [sys.executable, "-m", "harness", "load", "--users", str(USERS),
               "--spawn-rate", "20", "--duration", "8s", "--think-time", "0.5",
               "--metrics-port", str(port), "--report", str(run_dir),
               "--workers", str(workers)]  # fmt: skip
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    scrapes: list[dict[str, float]] = []
    try:
        deadline = time.monotonic() + _DEADLINE_S
        while process.poll() is None and time.monotonic() < deadline:
            found = _scrape(f"http://127.0.0.1:{port}/metrics")
            if found:
                scrapes.append(found)
            time.sleep(0.5)
        process.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        log.close()
    assert process.returncode == 0, (tmp_path / "load.log").read_text()[-2000:]
    assert len(scrapes) >= 3, f"{len(scrapes)} scrapes answered"

    def series(name: str) -> list[float]:
        return [s[name] for s in scrapes if name in s]

    assert all(s["crm_load_users"] == USERS for s in scrapes)
    assert max(series("crm_load_connected_users")) == USERS
    for name in _COUNTERS:
        values = series(f"crm_load_{name}_total")
        assert values == sorted(values), f"{name} went down: {values}"
    changes = series("crm_load_changes_ok_total")
    deliveries = series("crm_load_deliveries_total")
    assert changes[-1] > changes[0] and deliveries[-1] > deliveries[0]
    assert max(series("crm_load_changes_per_second"), default=0) > 0
    assert max(series("crm_load_deliveries_per_second"), default=0) > 0
    e2e_p99 = series("crm_load_e2e_latency_ms{quantile=0.99}")
    assert e2e_p99 and series("crm_load_fanout_latency_ms{quantile=0.5}")
    processes = {k for s in scrapes for k in s if k.startswith("crm_load_generator_cpu_percent")}
    assert len(processes) == max(workers, 1), processes

    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["users"] == USERS and summary["generator"]["connected_users_max"] == USERS
    last = scrapes[-1]
    assert last["crm_load_changes_sent_total"] <= summary["changes"]["sent"]
    assert 0 < last["crm_load_changes_ok_total"] <= summary["changes"]["ok"]
    assert 0 < last["crm_load_deliveries_total"] <= summary["deliveries"]["rows"]
    assert last["crm_load_gaps_total"] <= summary["gaps_seen"]
    assert last["crm_load_duplicates_total"] <= summary["duplicates"]
    assert last["crm_load_final_missing_total"] <= summary["loss"]["final"]
    # A window's tail is made of the run's own end-to-end figures.
    assert max(e2e_p99) <= summary["latency_ms"]["e2e"]["max"] + 0.01
