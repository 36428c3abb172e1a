"""The load generator's own figures: health, CPU cost per delivery and per user, lag windows.

Cost follows issue 13's method inside one run: the CPU one more second of steady state costs,
divided by the deliveries of that second, is the cost per delivery (heartbeats and actions
included: what a longer run adds); what the whole run cost beyond that, per user, is the fixed
part (process start, connect, tokens, closing sync). The run's total comes from the kernel's
count for the whole Locust process tree (run.json `generator_cpu_s`) when the engine recorded
it, else from the workers' own last samples.

A sample that woke more than `SATURATION_LAG_MS` late says the worker's event loop was blocked
in the second before it: every delivery that worker received in that window carries the
generator's own delay, and the window is listed so the report can flag it.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ._reader import RunData
from ._summary import GeneratorHealth, LagWindow
from .records import (
    GENERATOR_CPU_KEY,
    SATURATION_CPU_PERCENT,
    SATURATION_LAG_MS,
    SATURATION_SECONDS,
    STALL_LAG_MS,
)

__all__ = [
    "LAG_WINDOWS_LISTED",
    "cores_needed",
    "cost_sentence",
    "generator_health",
    "lag_windows",
]

LAG_WINDOWS_LISTED = 50  # summary.json lists the first ones; the counts cover all
_SAMPLE_INTERVAL_S = 1.0  # harness.load.health_sampler.SAMPLE_INTERVAL_S (no gevent here)
# Below this many deliveries in the steady window a per-delivery figure is mostly noise.
_MIN_STEADY_DELIVERIES = 100


def _connected_max(samples: pd.DataFrame) -> int:
    """Workers sample on their own clocks: add up each worker's last sample of each second."""
    per_second = samples.assign(second=samples["t"].round())
    last = per_second.groupby(["second", "worker"])["connected_users"].last()
    return int(last.groupby(level="second").sum().max())


def _saturated(samples: pd.DataFrame) -> bool:
    for _, per_worker in samples.sort_values("t").groupby("worker"):
        hot = (per_worker["cpu_percent"] > SATURATION_CPU_PERCENT) | (
            per_worker["loop_lag_ms"] > SATURATION_LAG_MS
        )
        streak = hot.astype(int).groupby((~hot).cumsum()).cumsum()
        if bool((streak >= SATURATION_SECONDS).any()):
            return True
    return False


def _steady_cpu_per_delivery(
    samples: pd.DataFrame, window: tuple[float, float] | None
) -> float | None:
    """CPU-seconds per delivery between the first and last sample of each worker in `window`."""
    if window is None:
        return None
    start, end = window
    inside = samples[(samples["t"] >= start) & (samples["t"] <= end) & samples["cpu_s"].notna()]
    cpu = deliveries = 0.0
    for _, rows in inside.sort_values("t").groupby("worker"):
        if len(rows) < 2:
            continue
        cpu += float(rows["cpu_s"].iloc[-1] - rows["cpu_s"].iloc[0])
        deliveries += float(rows["deliveries"].iloc[-1] - rows["deliveries"].iloc[0])
    return cpu / deliveries if deliveries >= _MIN_STEADY_DELIVERIES else None


def _total_cpu_s(run: RunData) -> float | None:
    recorded = run.run.get(GENERATOR_CPU_KEY)
    if isinstance(recorded, int | float) and recorded > 0:
        return float(recorded)
    last = run.generator.groupby("worker")["cpu_s"].max().dropna()
    return float(last.sum()) if len(last) else None


def lag_windows(run: RunData, threshold_ms: float = SATURATION_LAG_MS) -> list[LagWindow]:
    """Spans where a worker's event loop lagged over `threshold_ms`, adjacent seconds merged,
    with the live deliveries that worker received in them (their latency is the generator's
    too). Times in seconds since the run started."""
    samples = run.generator
    late = samples[samples["loop_lag_ms"] > threshold_ms].sort_values("t")
    live = run.live
    origin = run.started_at
    out: list[LagWindow] = []
    for worker, rows in late.groupby("worker", sort=True):
        spans: list[list[float]] = []
        for t, lag in zip(rows["t"], rows["loop_lag_ms"], strict=True):
            # The sample slept one interval and woke `lag` late: the loop was blocked in there.
            begin = float(t) - _SAMPLE_INTERVAL_S - float(lag) / 1000
            if spans and begin <= spans[-1][1]:
                spans[-1][1] = float(t)
                spans[-1][2] = max(spans[-1][2], float(lag))
            else:
                spans.append([begin, float(t), float(lag)])
        received = np.sort(live.loc[live["worker"] == worker, "t_recv"].to_numpy(dtype=float))
        for begin, end, worst in spans:
            count = int(received.searchsorted(end, "right") - received.searchsorted(begin, "left"))
            out.append(LagWindow(str(worker), round(begin - origin, 1), round(end - origin, 1),
                                 round(worst, 1), count))  # fmt: skip
    return sorted(out, key=lambda w: (w.start_s, w.worker))


def generator_health(
    run: RunData, users: int, window: tuple[float, float] | None
) -> GeneratorHealth:
    """The generator's health and cost; `window` is the run's steady state (epoch s)."""
    samples = run.generator
    if samples.empty:
        return GeneratorHealth(saturated=False)
    stalls = int((samples["loop_lag_ms"] > STALL_LAG_MS).sum())
    rss_peak = float(samples.groupby("worker")["rss_mb"].max().sum())
    per_delivery = _steady_cpu_per_delivery(samples, window)
    total = _total_cpu_s(run)
    per_user_ms = None
    if per_delivery is not None and total is not None and users:
        # Never below zero: a noisy slope must not make connecting look free of cost.
        per_user_ms = round(max(0.0, total - per_delivery * len(run.deliveries)) / users * 1000, 2)
    windows = lag_windows(run)
    return GeneratorHealth(
        cpu_percent_max=round(float(samples["cpu_percent"].max()), 1),
        cpu_percent_mean=round(float(samples["cpu_percent"].mean()), 1),
        loop_lag_ms_max=round(float(samples["loop_lag_ms"].max()), 1),
        stalls=stalls,
        rss_mb_max=round(rss_peak, 1),
        memory_per_user_kb=round(rss_peak * 1024 / users, 1) if users else None,
        connected_users_max=_connected_max(samples),
        saturated=_saturated(samples) or stalls > 0,
        cpu_s=round(total, 2) if total is not None else None,
        cpu_us_per_delivery=round(per_delivery * 1e6, 1) if per_delivery is not None else None,
        cpu_ms_per_user=per_user_ms,
        deliveries_per_core_s=round(1 / per_delivery) if per_delivery else None,
        lag_threshold_ms=SATURATION_LAG_MS,
        lag_window_s=round(sum(((w.end_s or 0.0) - (w.start_s or 0.0) for w in windows), 0.0), 1),
        lagged_deliveries=sum(w.deliveries or 0 for w in windows),
        lag_windows=windows[:LAG_WINDOWS_LISTED],
    )


def cores_needed(deliveries_per_s: float, us_per_delivery: float) -> float:
    """Generator cores a target delivering `deliveries_per_s` keeps busy at this cost."""
    return deliveries_per_s * us_per_delivery / 1e6


def cost_sentence(health: GeneratorHealth, deliveries_per_s: float | None) -> str | None:
    """One sentence for the report: the cost, and how many generator cores a target needs."""
    per_delivery, per_user = health.cpu_us_per_delivery, health.cpu_ms_per_user
    if per_delivery is None or per_delivery <= 0:
        return None
    per_core = 1e6 / per_delivery
    text = (
        f"The generator spent {per_delivery:,.0f} µs of CPU per delivery at steady state "
        f"(heartbeats and actions included)"
        + (f" and {per_user:,.1f} ms per simulated user (connect, tokens, closing sync)"
           if per_user is not None else "")
        + f": one generator core records about {per_core:,.0f} deliveries/s"
    )  # fmt: skip
    if deliveries_per_s:
        need = cores_needed(deliveries_per_s, per_delivery)
        text += f"; this run's {deliveries_per_s:,.0f} deliveries/s kept {need:.2f} cores busy"
    target = 10_000.0
    text += (
        f", and a target of {target:,.0f} deliveries/s needs "
        f"{math.ceil(cores_needed(target, per_delivery) / 0.7)} generator cores "
        "(each kept under 70 % busy so its own delay stays out of the latency figures)."
    )
    return text
