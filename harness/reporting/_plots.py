"""Plots as base64 PNGs (matplotlib, Agg backend), so a report is one self-contained file.

A plot with no data still renders, saying so: a missing picture in a report reads as a
broken report, while "no deliveries" is a finding.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..rundir import LagWindow, LatencyKind
from ._figures import RunFigures

__all__ = [
    "Plot",
    "bars_draw",
    "cdf_plot",
    "render_png",
    "report_plots",
]

_SIZE = (7.0, 3.2)
_DPI = 90


@dataclass(frozen=True, slots=True)
class Plot:
    key: str  # stable id: the HTML test looks for every key
    title: str
    png_base64: str

    @property
    def data_uri(self) -> str:
        return f"data:image/png;base64,{self.png_base64}"


def render_png(draw: Callable[[Axes], None], size: tuple[float, float] = _SIZE) -> str:
    fig: Figure = plt.figure(figsize=size, dpi=_DPI)
    try:
        ax = fig.add_subplot(1, 1, 1)
        draw(ax)
        ax.grid(True, alpha=0.3)
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
    finally:
        plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _no_data(ax: Axes, what: str) -> None:
    ax.text(0.5, 0.5, f"no {what} in this run", ha="center", va="center", transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


_CDF_POINTS = 2000


def cdf_plot(series: Sequence[tuple[str, np.ndarray]], xlabel: str) -> Callable[[Axes], None]:
    """Empirical CDFs of several labelled samples on one log-x axis."""

    def draw(ax: Axes) -> None:
        drawn = False
        for label, values in series:
            values = np.sort(values[values > 0])
            if values.size == 0:
                continue
            # At most _CDF_POINTS steps (the last one included): a plot a few hundred pixels
            # wide shows no more, and drawing one step per delivery made the report's cost
            # grow with the run (issue 13).
            steps = np.unique(np.linspace(0, values.size - 1, _CDF_POINTS).astype(int))
            ax.step(values[steps], (steps + 1) / values.size, where="post",
                    label=label)  # fmt: skip
            drawn = True
        if not drawn:
            _no_data(ax, "latency samples")
            return
        ax.set_xscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("share of deliveries")
        ax.legend(loc="lower right")

    return draw


def _lines(frame: pd.DataFrame, x: str, ys: Sequence[tuple[str, str]], ylabel: str,
           what: str) -> Callable[[Axes], None]:  # fmt: skip
    def draw(ax: Axes) -> None:
        if frame.empty:
            _no_data(ax, what)
            return
        for column, label in ys:
            ax.plot(frame[x], frame[column], label=label)
        ax.set_xlabel("seconds since start")
        ax.set_ylabel(ylabel)
        if len(ys) > 1:
            ax.legend(loc="upper left")

    return draw


def bars_draw(labels: Sequence[str], groups: Sequence[tuple[str, Sequence[float]]], ylabel: str,
          what: str) -> Callable[[Axes], None]:  # fmt: skip
    def draw(ax: Axes) -> None:
        if not labels:
            _no_data(ax, what)
            return
        width = 0.8 / max(len(groups), 1)
        positions = np.arange(len(labels))
        for i, (name, values) in enumerate(groups):
            ax.bar(positions + i * width, values, width, label=name)
        ax.set_xticks(positions + width * (len(groups) - 1) / 2, labels, rotation=30, ha="right",
                      fontsize=8)  # fmt: skip
        ax.set_ylabel(ylabel)
        if len(groups) > 1:
            ax.legend()

    return draw


def _generator_draw(generator: pd.DataFrame, start: float) -> Callable[[Axes], None]:
    def draw(ax: Axes) -> None:
        if generator.empty:
            _no_data(ax, "generator samples")
            return
        for worker, rows in generator.groupby("worker"):
            ax.plot(rows["t"] - start, rows["cpu_percent"], label=f"CPU % {worker}")
        lag = ax.twinx()
        for worker, rows in generator.groupby("worker"):
            lag.plot(rows["t"] - start, rows["loop_lag_ms"], linestyle="--",
                     label=f"loop lag ms {worker}")  # fmt: skip
        ax.set_xlabel("seconds since start")
        ax.set_ylabel("CPU %")
        lag.set_ylabel("event-loop lag (ms)")
        ax.legend(loc="upper left", fontsize=7)
        lag.legend(loc="upper right", fontsize=7)

    return draw


def _shaded(draw: Callable[[Axes], None], spans: Sequence[LagWindow]) -> Callable[[Axes], None]:
    """`draw`, with the generator's lag windows shaded: latency there is partly its own."""

    def shaded(ax: Axes) -> None:
        draw(ax)
        for i, w in enumerate(spans):
            if w.start_s is not None and w.end_s is not None:
                ax.axvspan(w.start_s, w.end_s, color="orange", alpha=0.25,
                           label="generator lag" if i == 0 else None)  # fmt: skip
        if spans:
            ax.legend(loc="upper left")

    return shaded


def report_plots(
    figures: RunFigures,
    generator: pd.DataFrame,
    start: float,
    lag_windows: Sequence[LagWindow] = (),
) -> list[Plot]:
    """Every plot of the single-run report, in page order."""
    live = figures.live
    scope = figures.by_scope
    scope_p99 = scope.pivot_table(index="scope", columns="latency", values="p99", aggfunc="first")
    bytes_table = figures.bytes_per_event
    specs: list[tuple[str, str, Callable[[Axes], None]]] = [
        ("latency_cdf", "Latency CDF (live deliveries)", cdf_plot(
            [(kind, live[f"{kind}_ms"].dropna().to_numpy(dtype=float))
             for kind in LatencyKind.ALL], "latency (ms, log scale)")),
        ("latency_over_time", "Latency over time", _shaded(_lines(
            figures.timeline, "second",
            [("e2e_p50_ms", "e2e p50"), ("e2e_p99_ms", "e2e p99"),
             ("fanout_p99_ms", "fan-out p99")], "ms", "deliveries"), lag_windows)),
        ("throughput_over_time", "Throughput over time", _lines(
            figures.timeline, "second",
            [("deliveries", "deliveries/s"), ("changes", "changes/s")], "per second",
            "deliveries")),
        ("connected_users", "Connected users over time", _lines(
            figures.connected, "second", [("connected_users", "connected users")], "users",
            "generator samples")),
        ("latency_by_scope", "p99 latency per audience scope", bars_draw(
            [str(s) for s in scope_p99.index],
            [(kind, [float(v) for v in scope_p99.get(kind, pd.Series(dtype=float))])
             for kind in LatencyKind.ALL if kind in scope_p99.columns], "p99 ms",
            "deliveries")),
        ("bytes_per_event", "Wire bytes per event (median)", bars_draw(
            [str(e) for e in bytes_table["event"]],
            [("median", [float(v) for v in bytes_table["median"]])], "bytes", "deliveries")),
        ("generator_health", "Load generator health", _generator_draw(generator, start)),
    ]  # fmt: skip
    return [Plot(key, title, render_png(draw)) for key, title, draw in specs]
