"""Small text tables shared by the Markdown, HTML and terminal outputs."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..rundir import Percentiles, RunSummary
    from ._report_context import ReportContext

__all__ = [
    "NODE_HEADERS",
    "fmt_number",
    "key_figures",
    "markdown_table",
    "node_rows",
    "run_parameters",
    "text_table",
]


def fmt_number(value: object, digits: int = 1) -> str:
    """Thousands separators, `digits` decimals for fractions, an en dash for no value."""
    if value is None or (isinstance(value, float) and value != value):
        return "–"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        return f"{int(value):,}"
    if isinstance(value, float):
        if 0 < abs(value) < 1:
            return f"{value:.{max(digits, 2)}g}"  # 0.0173 MB/s must not print as 0.0
        return f"{value:,.{digits}f}"
    return str(value)


def _counts(counts: dict[str, int]) -> str:
    """`a 3 · b 5`: a count per name on one line."""
    return " · ".join(f"{name} {fmt_number(n)}" for name, n in counts.items())


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    def cell(value: object) -> str:
        text = value if isinstance(value, str) else fmt_number(value)
        return text.replace("|", "\\|")

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return lines


def key_figures(context: ReportContext) -> list[tuple[str, str]]:
    """The headline numbers of one run, as (label, formatted value)."""
    s = context.summary
    fig = context.figures

    def latency(p: Percentiles) -> str:
        parts = [f"{label} {fmt_number(value)}"
                 for label, value in (("p50", p.p50), ("p95", p.p95), ("p99", p.p99),
                                      ("max", p.max))]  # fmt: skip
        low = f" · low-sample ({p.count} samples)" if p.low_sample else ""
        return " · ".join(parts) + " ms" + low

    rows = [
        ("scenario", str(context.run.run.get("scenario", "–"))),
        ("users", fmt_number(s.users)),
        ("duration", f"{fmt_number(fig.duration_s)} s"),
        ("changes", f"{fmt_number(fig.changes)} ({fmt_number(fig.changes_per_s)}/s)"),
        ("deliveries expected / received",
         f"{fmt_number(s.deliveries.expected)} / {fmt_number(s.deliveries.received)}"),
        ("live deliveries", f"{fmt_number(fig.deliveries_live)} "
                            f"({fmt_number(fig.deliveries_per_s)}/s, "
                            f"{fmt_number(fig.mb_per_s, 3)} MB/s)"),
        ("end-to-end latency", latency(s.latency_ms.e2e)),
        ("fan-out latency", latency(s.latency_ms.fanout)),
        ("loss live / final", f"{fmt_number(s.loss.live, 4)} / {fmt_number(s.loss.final, 4)}"),
        ("duplicates", fmt_number(s.duplicates)),
        ("out of order", fmt_number(s.out_of_order)),
        ("isolation leaks", fmt_number(s.isolation_leaks)),
        ("redaction leaks", fmt_number(s.redaction_leaks)),
        ("schema violations (sampled)", fmt_number(s.schema_violations)),
        ("bytes per update (median)", fmt_number(s.bytes_per_update.median)),
        ("connect errors", fmt_number(s.connect_errors)),
        ("generator saturated", fmt_number(s.generator.saturated)),
        ("generator CPU per delivery / per user",
         f"{fmt_number(s.generator.cpu_us_per_delivery)} µs / "
         f"{fmt_number(s.generator.cpu_ms_per_user, 2)} ms"),
    ]  # fmt: skip
    # Scenario-specific figures the engine adds (reconnect_storm, flood): shown when present.
    optional: tuple[tuple[str, int | None], ...] = (
        ("reconnects", s.reconnects),
        ("replayed deliveries", s.deliveries.replayed),
        ("stream resets (refetch needed)", s.resets),
        ("users refused: server busy (LIM-6)", s.refused_users),
        ("sockets without a closing sync", s.loss.unsynced_sockets),
        ("of final loss: their holes, unreplayed", s.loss.final_unsynced),
    )
    rows += [(label, fmt_number(value)) for label, value in optional if value]
    if s.connect_refusals:
        rows.append(("connects refused, by code", _counts(s.connect_refusals)))
    flood = {k: v for k, v in dataclasses.asdict(s.flood).items() if v is not None}
    if any(flood.values()):
        rows.append(("flood", " · ".join(f"{k} {fmt_number(v)}" for k, v in flood.items())))
    return rows


# run.json keys the Run table leaves out: the config and the server's info document are long
# and have their own homes (the workload file, the conformance report).
_UNSHOWN_RUN_KEYS = ("config", "server_info")


def _readable(key: str, value: Any) -> str:
    if key.endswith("_at") and isinstance(value, int | float) and not isinstance(value, bool):
        return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(value))
    if isinstance(value, list | tuple):
        return ", ".join(_readable("", v) for v in value) if value else "none"
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_readable(str(k), v)}" for k, v in value.items()) or "none"
    if key.endswith("_s") and isinstance(value, int | float) and not isinstance(value, bool):
        return f"{fmt_number(value)} s"
    return fmt_number(value)


def run_parameters(run: Mapping[str, Any]) -> list[tuple[str, str]]:
    """run.json as people read it: dates instead of epoch seconds, lists as lists."""
    return [(k, _readable(k, v)) for k, v in run.items() if k not in _UNSHOWN_RUN_KEYS]


NODE_HEADERS = ("node", "sockets", "connections (peak)", "events emitted", "deliveries",
                "refusals")  # fmt: skip


def node_rows(summary: RunSummary) -> list[tuple[str, ...]]:
    """The cluster view (summary.json `cluster`): a row per node, then their sum when there
    are several; empty for a run without it. Sockets and deliveries are the generator's,
    the rest the node's own /metrics (see harness.rundir.NodeRunFigures)."""
    view = summary.cluster
    rows = list(view.nodes.items())
    if len(rows) > 1:
        rows.append(("sum", view.sum))
    return [
        (name, *(fmt_number(v) for v in (f.sockets, f.connections_max, f.events_emitted,
                                         f.deliveries, f.refusals)))
        for name, f in rows
    ]  # fmt: skip


def text_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """A plain aligned table for the terminal."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(headers)]  # fmt: skip
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    out = [line, "-" * len(line)]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return out
