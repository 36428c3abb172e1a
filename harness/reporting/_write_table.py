"""The write-path table and the low-sample marks, shared by the HTML and Markdown reports.

One row per way a change is sent (REST, `mutate`) and per op under it: requests, ok, errors
by code, ack latency p50…max over the answered ones. A row whose latency rests on fewer than
`LOW_SAMPLE` answers carries the `low-sample` mark.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..rundir import LOW_SAMPLE, Percentiles, RunSummary, WriteFigures
from ._tables import fmt_number

__all__ = [
    "LOW_SAMPLE_MARK",
    "WRITE_HEADERS",
    "WriteRow",
    "low_sample_figures",
    "low_sample_warning",
    "write_rows",
]

LOW_SAMPLE_MARK = "low-sample"
WRITE_HEADERS = ("path", "op", "requests", "ok", "errors by code", "answered", "p50 ms",
                 "p90 ms", "p95 ms", "p99 ms", "max ms")  # fmt: skip
_LABELS = {"rest": "REST", "mutate": "mutate"}


@dataclass(frozen=True, slots=True)
class WriteRow:
    path: str
    op: str  # "all" for the transport's own row
    figures: WriteFigures

    @property
    def low_sample(self) -> bool:
        return self.figures.ack_ms.low_sample

    @property
    def errors(self) -> str:
        found = self.figures.errors
        return ", ".join(f"{code} {n:,}" for code, n in found.items()) if found else "none"

    def cells(self) -> list[str]:
        f, ack = self.figures, self.figures.ack_ms
        answered = fmt_number(ack.count) + (f" ({LOW_SAMPLE_MARK})" if self.low_sample else "")
        latency = [fmt_number(v, 2) for v in (ack.p50, ack.p90, ack.p95, ack.p99, ack.max)]
        return [self.path, self.op, fmt_number(f.requests), fmt_number(f.ok), self.errors,
                answered, *latency]  # fmt: skip


def write_rows(summary: RunSummary) -> list[WriteRow]:
    rows = []
    for name, figures in summary.write_path.items():
        label = _LABELS.get(name, name)
        rows.append(WriteRow(label, "all", figures))
        rows += [WriteRow(label, op, per_op) for op, per_op in figures.by_op.items()]
    return rows


def low_sample_figures(summary: RunSummary) -> list[tuple[str, int]]:
    """The headline figures resting on fewer than LOW_SAMPLE values: (what, how many)."""
    latency = summary.latency_ms
    named: list[tuple[str, Percentiles]] = [("end-to-end latency", latency.e2e),
                                             ("fan-out latency", latency.fanout)]  # fmt: skip
    named += [(f"{_LABELS.get(n, n)} ack latency", f.ack_ms) for n, f in summary.write_path.items()]
    return [(what, p.count) for what, p in named if p.low_sample and p.count is not None]


def low_sample_warning(figures: Iterable[tuple[str, int]]) -> str | None:
    found = [f"{what} ({count} samples)" for what, count in figures]
    if not found:
        return None
    return (f"LOW SAMPLE: {', '.join(found)} rest on fewer than {LOW_SAMPLE} samples: their "
            f"percentiles (and any gate on them) are marked {LOW_SAMPLE_MARK} and say little. "
            "Run longer or with more users.")  # fmt: skip
