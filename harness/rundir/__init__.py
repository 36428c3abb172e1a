"""A load run directory: its contract, read into one typed model, and what is derived from it.

- `records`: one record type per CSV (what `crm-harness load --report DIR` writes); standard
  library only, so the engine's Locust processes import it without pandas.
- `RunData` (`load_run`): the directory read once, one type rule for every column, the live
  deliveries joined to their changes once (`RunData.live`); `*_COLUMNS`: the columns each
  file must have.
- `RunSummary` (`summarize_run`): summary.json as types; `summarize(dir)` is its JSON.
- `Percentiles`, `quantiles`, `change_send_times`: the one percentile definition and the one
  end-to-end join that summary.json, the reports, compare and live progress share.
- `WriteFigures` (`RunSummary.write_path`): REST and `mutate` ack latency and errors by code.

Names other than `records`' load lazily: pandas costs a third of a second, and the Locust
processes and `crm-harness --help` need only the light corners.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .records import (
    CHANGE_OPS,
    GENERATOR_CPU_KEY,
    RECORD_TYPES,
    ActionRecord,
    AnomalyKind,
    AnomalyRecord,
    DeliveryRecord,
    ExtraOp,
    GeneratorSample,
    LocalError,
    Record,
    StreamRecord,
    Transport,
    UserRecord,
    columns,
)

if TYPE_CHECKING:
    from ._generator import cores_needed, cost_sentence
    from ._latency import (
        LOW_SAMPLE,
        PERCENTILES,
        LatencyKind,
        Percentiles,
        change_send_times,
        percentile_row,
        quantiles,
        successful_changes,
    )
    from ._nodes import NODE_METRICS_KEY
    from ._reader import (
        ACTIONS_COLUMNS,
        ANOMALIES_COLUMNS,
        DELIVERIES_COLUMNS,
        GENERATOR_COLUMNS,
        STREAMS_COLUMNS,
        USERS_COLUMNS,
        RunData,
        load_run,
        read_run,
    )
    from ._summarize import load_summary, summarize, summarize_run
    from ._summary import LagWindow, RunSummary
    from ._write_path import WRITE_TRANSPORTS, WriteFigures, write_path

_HOMES: dict[str, str] = {
    **{name: "._latency" for name in ("LOW_SAMPLE", "PERCENTILES", "LatencyKind", "Percentiles",
                                      "change_send_times", "percentile_row", "quantiles",
                                      "successful_changes")},
    **{name: "._reader" for name in ("RunData", "load_run", "read_run", "ACTIONS_COLUMNS",
                                     "ANOMALIES_COLUMNS", "DELIVERIES_COLUMNS",
                                     "GENERATOR_COLUMNS", "STREAMS_COLUMNS", "USERS_COLUMNS")},
    **{name: "._generator" for name in ("cores_needed", "cost_sentence")},
    **{name: "._summarize" for name in ("load_summary", "summarize", "summarize_run")},
    "RunSummary": "._summary",
    "WRITE_TRANSPORTS": "._write_path",
    "WriteFigures": "._write_path",
    "write_path": "._write_path",
    "NODE_METRICS_KEY": "._nodes",
    "LagWindow": "._summary",
}  # fmt: skip

__all__ = [
    "ACTIONS_COLUMNS",
    "ANOMALIES_COLUMNS",
    "CHANGE_OPS",
    "DELIVERIES_COLUMNS",
    "GENERATOR_COLUMNS",
    "GENERATOR_CPU_KEY",
    "LOW_SAMPLE",
    "NODE_METRICS_KEY",
    "PERCENTILES",
    "RECORD_TYPES",
    "STREAMS_COLUMNS",
    "USERS_COLUMNS",
    "WRITE_TRANSPORTS",
    "ActionRecord",
    "AnomalyKind",
    "AnomalyRecord",
    "DeliveryRecord",
    "ExtraOp",
    "GeneratorSample",
    "LagWindow",
    "LatencyKind",
    "LocalError",
    "Percentiles",
    "Record",
    "RunData",
    "RunSummary",
    "StreamRecord",
    "Transport",
    "UserRecord",
    "WriteFigures",
    "change_send_times",
    "columns",
    "cores_needed",
    "cost_sentence",
    "load_run",
    "load_summary",
    "percentile_row",
    "quantiles",
    "read_run",
    "successful_changes",
    "summarize",
    "summarize_run",
    "write_path",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(home, __name__), name)
