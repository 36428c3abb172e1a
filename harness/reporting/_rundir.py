"""Reading a load run directory (the contract `crm-harness load --report DIR` writes).

Every CSV is optional on disk: a run that never connected writes no deliveries, and a report of
such a run must still say so rather than crash. Missing files become empty frames with the
contract's columns, so the figures code never branches on which files exist.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from harness.load.measure import AnomalyKind  # the kinds the engine writes to anomalies.csv

from .._exceptions import UsageError
from ..spec import Op

__all__ = [
    "ACTIONS_COLUMNS",
    "ANOMALIES_COLUMNS",
    "CHANGE_OPS",
    "DELIVERIES_COLUMNS",
    "GENERATOR_COLUMNS",
    "STREAMS_COLUMNS",
    "USERS_COLUMNS",
    "AnomalyKind",
    "RunData",
    "load_run",
    "load_summary",
]

RUN_JSON = "run.json"
SUMMARY_JSON = "summary.json"

DELIVERIES_COLUMNS: tuple[str, ...] = (
    "receiver", "socket", "stream", "seq", "event_id", "event", "entity_type", "entity_id",
    "version", "scope", "t_recv", "server_ts", "bytes", "replayed", "worker",
)  # fmt: skip
ACTIONS_COLUMNS: tuple[str, ...] = (
    "actor", "op", "transport", "entity_type", "entity_id", "version", "scope", "t_send",
    "t_ack", "ok", "error_code", "bytes_sent", "worker",
)  # fmt: skip
USERS_COLUMNS: tuple[str, ...] = ("user_id", "team_id", "broker_id", "sockets")
GENERATOR_COLUMNS: tuple[str, ...] = (
    "t", "worker", "cpu_percent", "loop_lag_ms", "connected_users", "rss_mb", "changes_sent",
    "deliveries",
)  # fmt: skip
ANOMALIES_COLUMNS: tuple[str, ...] = ("kind", "receiver", "stream", "seq", "event_id", "detail")
# streams.csv (the engine's closing-sync findings per socket and stream) is optional.
STREAMS_COLUMNS: tuple[str, ...] = ("receiver", "socket", "stream", "missing_live", "missing_final")

# Ops in actions.csv that change a record and therefore emit one data event (SPEC §5).
CHANGE_OPS: frozenset[str] = frozenset(op.value for op in Op)


# Columns read as text whatever they look like: ids such as "42" must not become integers
# in one run and strings in another, or joins across runs and files silently miss.
_TEXT_COLUMNS = frozenset(
    {"receiver", "socket", "stream", "event_id", "event", "entity_type", "entity_id", "scope",
     "actor", "op", "transport", "error_code", "user_id", "team_id", "broker_id", "kind",
     "detail", "worker"}
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class RunData:
    """One run directory in memory."""

    path: Path
    run: dict[str, Any]
    deliveries: pd.DataFrame
    actions: pd.DataFrame
    users: pd.DataFrame
    generator: pd.DataFrame
    anomalies: pd.DataFrame
    streams: pd.DataFrame  # empty when the run wrote no streams.csv

    @property
    def name(self) -> str:
        scenario = self.run.get("scenario")
        return f"{self.path.name} ({scenario})" if scenario else self.path.name

    @property
    def duration_s(self) -> float:
        """The run's measured length: from run.json, else the span of its timestamps."""
        declared = self.run.get("duration_s")
        if isinstance(declared, int | float) and declared > 0:
            return float(declared)
        started, ended = self.run.get("started_at"), self.run.get("ended_at")
        if isinstance(started, int | float) and isinstance(ended, int | float) and ended > started:
            return float(ended - started)
        if len(self.deliveries):
            span = float(self.deliveries["t_recv"].max() - self.deliveries["t_recv"].min())
            return max(span, 1.0)
        return 1.0

    @property
    def started_at(self) -> float:
        started = self.run.get("started_at")
        if isinstance(started, int | float):
            return float(started)
        times = [f[c].min() for f, c in ((self.actions, "t_send"), (self.deliveries, "t_recv"))]
        present = [float(t) for t in times if pd.notna(t)]
        return min(present) if present else 0.0


def _read_csv(path: Path, columns: tuple[str, ...]) -> pd.DataFrame:
    if not path.is_file() or path.stat().st_size == 0:
        return pd.DataFrame({c: pd.Series(dtype=object if c in _TEXT_COLUMNS else float)
                             for c in columns})  # fmt: skip
    try:
        frame = pd.read_csv(
            path,
            dtype={c: "string" for c in _TEXT_COLUMNS},
            keep_default_na=False,
            na_values={c: [""] for c in columns if c not in _TEXT_COLUMNS},
        )
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise UsageError(f"{path} is not a readable CSV: {exc}") from exc
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise UsageError(f"{path} lacks column(s) {', '.join(missing)}")
    for column in frame.columns:
        if column in _TEXT_COLUMNS:
            frame[column] = frame[column].astype(object)
        elif column in columns:
            # A header-only CSV reads as object columns; numbers must stay numbers.
            frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    return frame


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path} is not readable JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise UsageError(f"{path} does not hold a JSON object")
    return data


def load_run(run_dir: Path | str) -> RunData:
    """Read a run directory; a path that is not one is a `UsageError`."""
    path = Path(run_dir)
    if not path.exists():
        raise UsageError(f"run directory {path} does not exist")
    if not path.is_dir():
        raise UsageError(f"{path} is a file, not a run directory")
    run_json = path / RUN_JSON
    if not run_json.is_file():
        raise UsageError(f"{path} is not a run directory (no {RUN_JSON})")
    return RunData(
        path=path,
        run=_read_json(run_json),
        deliveries=_read_csv(path / "deliveries.csv", DELIVERIES_COLUMNS),
        actions=_read_csv(path / "actions.csv", ACTIONS_COLUMNS),
        users=_read_csv(path / "users.csv", USERS_COLUMNS),
        generator=_read_csv(path / "generator.csv", GENERATOR_COLUMNS),
        anomalies=_read_csv(path / "anomalies.csv", ANOMALIES_COLUMNS),
        streams=_read_csv(path / "streams.csv", STREAMS_COLUMNS),
    )


def load_summary(run_dir: Path | str, *, recompute: bool = False) -> dict[str, Any]:
    """The run's summary.json as the load engine wrote it; recomputed from the CSVs by the
    engine's analysis when asked (after the analysis improved, say) or when there is none."""
    path = Path(run_dir)
    summary_json = path / SUMMARY_JSON
    if summary_json.is_file() and not recompute:
        return _read_json(summary_json)
    try:
        from harness.load.analysis import summarize
    except ImportError:
        raise UsageError(
            f"{path}: cannot compute a summary, the load analysis is not installed"
        ) from None
    result: dict[str, Any] = dict(summarize(path))
    return result
