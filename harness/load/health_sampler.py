"""The generator's own health, once a second per process: CPU, event-loop lag, memory.

A sample that wakes late measures event-loop lag: from then on the latency figures include
the generator's own delay. A sustained hot streak, or one stall, is announced on stderr (and
`summary.json` says `generator.saturated`, from the same thresholds).
"""

from __future__ import annotations

import sys
import time

import gevent
import psutil

from .measure import (
    MEASUREMENTS,
    SATURATION_CPU_PERCENT,
    SATURATION_LAG_MS,
    SATURATION_SECONDS,
    STALL_LAG_MS,
    GeneratorSample,
)
from .process_context import ProcessContext

__all__ = ["SAMPLE_INTERVAL_S", "sample_health"]

SAMPLE_INTERVAL_S = 1.0


def sample_health(ctx: ProcessContext) -> None:
    """Generator health every second; a late wake-up is event-loop lag (the figures lie)."""
    proc = psutil.Process()
    proc.cpu_percent(None)
    hot_streak = 0
    while True:
        before = time.monotonic()
        gevent.sleep(SAMPLE_INTERVAL_S)
        lag_ms = max(0.0, (time.monotonic() - before - SAMPLE_INTERVAL_S) * 1000)
        cpu = proc.cpu_percent(None)
        times = proc.cpu_times()
        c = ctx.counters
        MEASUREMENTS.fire(
            GeneratorSample(
                t=time.time(),
                worker=ctx.worker,
                cpu_percent=cpu,
                loop_lag_ms=round(lag_ms, 2),
                connected_users=c.connected_users,
                rss_mb=round(proc.memory_info().rss / 2**20, 1),
                changes_sent=c.changes_sent,
                deliveries=c.deliveries,
                cpu_s=round(times.user + times.system, 3),
            )
        )
        hot = cpu > SATURATION_CPU_PERCENT or lag_ms > SATURATION_LAG_MS
        hot_streak = hot_streak + 1 if hot else 0
        if hot_streak == SATURATION_SECONDS or lag_ms > STALL_LAG_MS:
            print(
                f"!!! GENERATOR SATURATED (worker {ctx.worker}: cpu {cpu:.0f}%, loop lag "
                f"{lag_ms:.0f} ms): latency figures from now on include generator delay; "
                "add --workers or lower --users",
                file=sys.stderr,
                flush=True,
            )
