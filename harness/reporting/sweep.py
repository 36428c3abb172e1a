"""The measured scaling table of a sweep: one row per run directory → sweep.csv/md/html.

The runs themselves are `harness.experiments.sweep`'s. The analysis this project started
from projected, for 10 to 10,000 users, connections, messages/s and MB/s (its §7). The
sweep measures the same columns, plus latency and loss, and prints the projection beside
them where the user count matches.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from matplotlib.axes import Axes

from ..rundir import load_run
from ._plots import Plot, render_png
from ._report_context import build_context
from ._tables import fmt_number, markdown_table
from .formats import render_template

__all__ = [
    "PROJECTED",
    "TABLE_HEADERS",
    "SweepRow",
    "failed_row",
    "measure_row",
    "sweep_markdown",
    "table_rows",
    "write_sweep",
    "write_sweep_csv",
]

# users → (messages/s, MB/s) as projected in websocket-analysis.md §7.
PROJECTED: dict[int, tuple[float, float]] = {
    10: (2, 0.02), 100: (20, 0.2), 1000: (200, 2), 10000: (2000, 20),
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class SweepRow:
    users: int
    nodes: int
    connections: int
    changes_per_s: float
    deliveries_per_s: float
    mb_per_s: float
    e2e_p50_ms: float
    e2e_p95_ms: float
    e2e_p99_ms: float
    fanout_p99_ms: float
    loss_live: float
    loss_final: float
    generator_saturated: bool
    run_dir: str
    error: str = ""  # the step could not run: why

    @property
    def projected(self) -> tuple[float, float] | None:
        return PROJECTED.get(self.users)

    @property
    def headline(self) -> str:
        """The step's figures in one progress line."""
        return (
            f"{fmt_number(self.deliveries_per_s)} deliveries/s, "
            f"e2e p99 {fmt_number(self.e2e_p99_ms)} ms, loss final {fmt_number(self.loss_final)}"
            + (" (GENERATOR SATURATED)" if self.generator_saturated else "")
        )


def _float(value: object) -> float:
    return float(value) if isinstance(value, int | float) else math.nan


def measure_row(users: int, nodes: int, run_dir: Path) -> SweepRow:
    """The row of the step of `users` users on `nodes` nodes, from its run directory."""
    context = build_context(load_run(run_dir))
    s, figures = context.summary, context.figures
    user_rows = context.run.users
    sockets = int(user_rows["sockets"].sum()) if len(user_rows) else 0
    connected = figures.connected["connected_users"].max() if len(figures.connected) else 0
    return SweepRow(
        users=users,
        nodes=nodes,
        connections=sockets or int(connected or 0),
        changes_per_s=figures.changes_per_s,
        deliveries_per_s=figures.deliveries_per_s,
        mb_per_s=figures.mb_per_s,
        e2e_p50_ms=_float(s.latency_ms.e2e.p50),
        e2e_p95_ms=_float(s.latency_ms.e2e.p95),
        e2e_p99_ms=_float(s.latency_ms.e2e.p99),
        fanout_p99_ms=_float(s.latency_ms.fanout.p99),
        loss_live=_float(s.loss.live),
        loss_final=_float(s.loss.final),
        generator_saturated=bool(s.generator.saturated),
        run_dir=str(run_dir),
    )


def failed_row(users: int, nodes: int, error: str) -> SweepRow:
    """The row of a step that could not run: why, and no figures."""
    nan = math.nan
    return SweepRow(users, nodes, 0, nan, nan, nan, nan, nan, nan, nan, nan, nan,
                    False, "", error)  # fmt: skip


TABLE_HEADERS = ("users", "nodes", "connections", "changes/s", "deliveries/s", "MB/s",
                 "e2e p50 ms", "e2e p95 ms", "e2e p99 ms", "fan-out p99 ms", "loss live",
                 "loss final", "projected msg/s (§7)", "projected MB/s (§7)", "note")  # fmt: skip


def table_rows(rows: Sequence[SweepRow]) -> list[tuple[object, ...]]:
    out: list[tuple[object, ...]] = []
    for r in rows:
        projected = r.projected or (math.nan, math.nan)
        note = r.error or ("generator saturated" if r.generator_saturated else "")
        out.append((r.users, r.nodes, r.connections, r.changes_per_s, r.deliveries_per_s,
                    round(r.mb_per_s, 4), r.e2e_p50_ms, r.e2e_p95_ms, r.e2e_p99_ms,
                    r.fanout_p99_ms, r.loss_live, r.loss_final, projected[0], projected[1],
                    note))  # fmt: skip
    return out


def write_sweep_csv(rows: Sequence[SweepRow], path: Path) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=[f.name for f in fields(SweepRow)])
        writer.writeheader()
        for row in rows:
            writer.writerow(asdict(row))
    return path


def sweep_markdown(rows: Sequence[SweepRow]) -> list[str]:
    """The whole table, then with several node counts one table per node count."""
    lines = ["## Scaling sweep (measured)", "", *markdown_table(TABLE_HEADERS, table_rows(rows)),
             ""]  # fmt: skip
    node_counts = sorted({r.nodes for r in rows})
    if len(node_counts) > 1:
        for nodes in node_counts:
            same = [r for r in rows if r.nodes == nodes]
            lines += [f"### {nodes} node(s)", "",
                      *markdown_table(TABLE_HEADERS, table_rows(same)), ""]  # fmt: skip
    return lines


def _nodes_plot(rows: Sequence[SweepRow]) -> Plot:
    """Throughput against node count, one line per user count: what adding nodes buys."""
    measured = [r for r in rows if not r.error]

    def draw(ax: Axes) -> None:
        for users in sorted({r.users for r in measured}):
            line = sorted((r for r in measured if r.users == users), key=lambda r: r.nodes)
            ax.plot([r.nodes for r in line], [r.deliveries_per_s for r in line], marker="o",
                    label=f"{users} users")  # fmt: skip
        ax.set_xticks(sorted({r.nodes for r in rows}))
        ax.set_xlabel("nodes")
        ax.set_ylabel("deliveries/s")
        if measured:
            ax.legend(fontsize=8)

    return Plot("throughput_vs_nodes", "Deliveries per second vs nodes", render_png(draw))


def _scaling_plots(rows: Sequence[SweepRow]) -> list[Plot]:
    measured = [r for r in rows if not r.error]

    def series(column: str) -> Callable[[Axes], None]:
        def draw(ax: Axes) -> None:
            if not measured:
                ax.text(0.5, 0.5, "no step completed", ha="center", transform=ax.transAxes)
                return
            for nodes in sorted({r.nodes for r in measured}):
                line = [r for r in measured if r.nodes == nodes]
                ax.plot([r.users for r in line], [getattr(r, column) for r in line],
                        marker="o", label=f"{nodes} node(s), measured")  # fmt: skip
            if column == "deliveries_per_s":
                projected = sorted(PROJECTED.items())
                ax.plot([u for u, _ in projected], [p[0] for _, p in projected], "k--",
                        marker="x", label="projected msg/s (analysis §7)")  # fmt: skip
            ax.set_xscale("log")
            ax.set_yscale("log" if column == "deliveries_per_s" else "linear")
            ax.set_xlabel("users")
            ax.legend(fontsize=8)

        return draw

    plots = [
        Plot("throughput_vs_users", "Deliveries per second vs users",
             render_png(series("deliveries_per_s"))),
        Plot("p99_vs_users", "End-to-end p99 latency (ms) vs users",
             render_png(series("e2e_p99_ms"))),
    ]  # fmt: skip
    if len({r.nodes for r in rows}) > 1:
        plots.append(_nodes_plot(rows))
    return plots


def write_sweep(rows: Sequence[SweepRow], out_dir: Path) -> dict[str, Path]:
    """sweep.csv, sweep.md and sweep.html (table + plots) in `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    markdown = out_dir / "sweep.md"
    markdown.write_text("\n".join(sweep_markdown(rows)), encoding="utf-8")
    html = out_dir / "sweep.html"
    html.write_text(render_template(
        "sweep.html.j2", headers=TABLE_HEADERS, rows=table_rows(rows),
        plots=_scaling_plots(rows)), encoding="utf-8")  # fmt: skip
    return {"csv": write_sweep_csv(rows, out_dir / "sweep.csv"), "markdown": markdown,
            "html": html}  # fmt: skip
