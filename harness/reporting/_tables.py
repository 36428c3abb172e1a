"""Small text tables shared by the Markdown, HTML and terminal outputs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._context import ReportContext

__all__ = ["fmt_number", "key_figures", "lookup", "markdown_table", "text_table"]


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


def lookup(summary: Mapping[str, Any], *keys: str) -> Any:
    """A nested summary value, or None when any level is missing."""
    node: Any = summary
    for key in keys:
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    return node


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

    def latency(kind: str) -> str:
        parts = [f"{p} {fmt_number(lookup(s, 'latency_ms', kind, p))}"
                 for p in ("p50", "p95", "p99", "max")]  # fmt: skip
        return " · ".join(parts) + " ms"

    rows = [
        ("scenario", str(context.run.run.get("scenario", "–"))),
        ("users", fmt_number(lookup(s, "users"))),
        ("duration", f"{fmt_number(fig.duration_s)} s"),
        ("changes", f"{fmt_number(fig.changes)} ({fmt_number(fig.changes_per_s)}/s)"),
        ("deliveries expected / received",
         f"{fmt_number(lookup(s, 'deliveries', 'expected'))} / "
         f"{fmt_number(lookup(s, 'deliveries', 'received'))}"),
        ("live deliveries", f"{fmt_number(fig.deliveries_live)} "
                            f"({fmt_number(fig.deliveries_per_s)}/s, "
                            f"{fmt_number(fig.mb_per_s, 3)} MB/s)"),
        ("end-to-end latency", latency("e2e")),
        ("fan-out latency", latency("fanout")),
        ("loss live / final", f"{fmt_number(lookup(s, 'loss', 'live'), 4)} / "
                              f"{fmt_number(lookup(s, 'loss', 'final'), 4)}"),
        ("duplicates", fmt_number(lookup(s, "duplicates"))),
        ("out of order", fmt_number(lookup(s, "out_of_order"))),
        ("isolation leaks", fmt_number(lookup(s, "isolation_leaks"))),
        ("redaction leaks", fmt_number(lookup(s, "redaction_leaks"))),
        ("bytes per update (median)", fmt_number(lookup(s, "bytes_per_update", "median"))),
        ("connect errors", fmt_number(lookup(s, "connect_errors"))),
        ("generator saturated", fmt_number(lookup(s, "generator", "saturated"))),
    ]  # fmt: skip
    # Scenario-specific figures the engine adds (reconnect_storm, flood): shown when present.
    optional = (
        ("reconnects", ("reconnects",)),
        ("replayed deliveries", ("deliveries", "replayed")),
        ("stream resets (refetch needed)", ("resets",)),
        ("flood", ("flood",)),
    )
    for label, keys in optional:
        value = lookup(s, *keys)
        if isinstance(value, dict) and any(value.values()):
            rows.append((label, " · ".join(f"{k} {fmt_number(v)}" for k, v in value.items())))
        elif isinstance(value, int | float) and value:
            rows.append((label, fmt_number(value)))
    by_node = lookup(s, "deliveries", "received_live_by_node")
    if isinstance(by_node, dict) and len(by_node) > 1:  # a run spread over a cluster's nodes
        rows.append(("received live by node",
                     " · ".join(f"{k} {fmt_number(v)}" for k, v in by_node.items())))  # fmt: skip
    return rows


def text_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """A plain aligned table for the terminal."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(headers)]  # fmt: skip
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    out = [line, "-" * len(line)]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return out
