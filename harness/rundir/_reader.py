"""Reading a load run directory into memory: one reader, one type rule, for every consumer.

Every CSV is optional on disk: a run that never connected writes no deliveries, and a summary
or a report of such a run must still say so rather than crash. Missing files become empty
frames with the contract's columns, so the figures code never branches on which files exist.
Columns every version of the engine wrote are required (a file without them is not the
contract's); columns added later may be absent from older files and read as empty.

The type rule: ids and names are text whatever they look like ("42" must not become an
integer in one file and stay a string in another, or joins silently miss), everything else a
float (NaN where a cell is empty).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from .._exceptions import UsageError
from ._latency import change_send_times
from .records import (
    ActionRecord,
    AnomalyRecord,
    DeliveryRecord,
    GeneratorSample,
    StreamRecord,
    UserRecord,
    columns,
)

__all__ = [
    "ACTIONS_COLUMNS",
    "ANOMALIES_COLUMNS",
    "DELIVERIES_COLUMNS",
    "GENERATOR_COLUMNS",
    "RUN_JSON",
    "STREAMS_COLUMNS",
    "SUMMARY_JSON",
    "USERS_COLUMNS",
    "RunData",
    "load_run",
    "read_json",
    "read_run",
]

RUN_JSON = "run.json"
SUMMARY_JSON = "summary.json"

# The columns each file must have (what every version of the engine wrote).
DELIVERIES_COLUMNS: tuple[str, ...] = tuple(columns(DeliveryRecord))
ACTIONS_COLUMNS: tuple[str, ...] = tuple(c for c in columns(ActionRecord) if c != "bytes_received")
USERS_COLUMNS: tuple[str, ...] = ("user_id", "team_id", "broker_id", "sockets")
GENERATOR_COLUMNS: tuple[str, ...] = tuple(c for c in columns(GeneratorSample) if c != "cpu_s")
ANOMALIES_COLUMNS: tuple[str, ...] = ("kind", "receiver", "stream", "seq", "event_id", "detail")
# streams.csv (the engine's closing-sync findings per socket and stream) came later.
STREAMS_COLUMNS: tuple[str, ...] = ("receiver", "socket", "stream", "missing_live", "missing_final")

_REQUIRED: dict[type, tuple[str, ...]] = {
    DeliveryRecord: DELIVERIES_COLUMNS,
    ActionRecord: ACTIONS_COLUMNS,
    UserRecord: USERS_COLUMNS,
    GeneratorSample: GENERATOR_COLUMNS,
    AnomalyRecord: ANOMALIES_COLUMNS,
    StreamRecord: STREAMS_COLUMNS,
}

_TEXT_COLUMNS = frozenset(
    {"receiver", "socket", "stream", "event_id", "event", "entity_type", "entity_id", "scope",
     "actor", "op", "transport", "error_code", "user_id", "team_id", "broker_id", "kind",
     "detail", "worker"}
)  # fmt: skip


def _empty_column(name: str, length: int) -> pd.Series:
    if name in _TEXT_COLUMNS:
        return pd.Series([""] * length, dtype=object)
    return pd.Series([float("nan")] * length, dtype=float)


def _read_csv(path: Path, record_type: type) -> pd.DataFrame:
    """One file of the contract: its columns in the contract's types, the optional ones
    empty where the file lacks them."""
    contract = columns(record_type)
    if not path.is_file() or path.stat().st_size == 0:
        return pd.DataFrame({c: _empty_column(c, 0) for c in contract})
    try:
        frame = pd.read_csv(
            path,
            dtype={c: "string" for c in _TEXT_COLUMNS},
            keep_default_na=False,
            na_values={c: ["", "nan"] for c in contract if c not in _TEXT_COLUMNS},
        )
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise UsageError(f"{path} is not a readable CSV: {exc}") from exc
    missing = [c for c in _REQUIRED[record_type] if c not in frame.columns]
    if missing:
        raise UsageError(f"{path} lacks column(s) {', '.join(missing)}")
    for column in frame.columns:
        if column in _TEXT_COLUMNS:
            frame[column] = frame[column].astype(object)
        else:
            # A header-only CSV reads as object columns; numbers must stay numbers.
            frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    for column in contract:
        if column not in frame.columns:
            frame[column] = _empty_column(column, len(frame))
    return frame


def read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path} is not readable JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise UsageError(f"{path} does not hold a JSON object")
    return data


@dataclass(frozen=True)
class RunData:
    """One run directory in memory: run.json and a frame per CSV, read once; the live
    deliveries with their latencies derived once, on first use."""

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

    @cached_property
    def live(self) -> pd.DataFrame:
        """Live deliveries (a replay is late on purpose: it says nothing about fan-out speed)
        with `t_send` of the change that made them, `e2e_ms` (NaN: no change matches) and
        `fanout_ms` (server timestamp → receive)."""
        live = self.deliveries[self.deliveries["replayed"] != 1].copy()
        live["t_send"] = change_send_times(live, self.actions)
        live["e2e_ms"] = (live["t_recv"] - live["t_send"]) * 1000.0
        live["fanout_ms"] = (live["t_recv"] - live["server_ts"]) * 1000.0
        return live


def read_run(path: Path) -> RunData:
    """Read what is there: without run.json the run's metadata is empty (what `summarize`
    accepts; a report wants a real run directory, `load_run`)."""
    run_json = path / RUN_JSON
    return RunData(
        path=path,
        run=read_json(run_json) if run_json.is_file() else {},
        deliveries=_read_csv(path / "deliveries.csv", DeliveryRecord),
        actions=_read_csv(path / "actions.csv", ActionRecord),
        users=_read_csv(path / "users.csv", UserRecord),
        generator=_read_csv(path / "generator.csv", GeneratorSample),
        anomalies=_read_csv(path / "anomalies.csv", AnomalyRecord),
        streams=_read_csv(path / "streams.csv", StreamRecord),
    )


def load_run(run_dir: Path | str) -> RunData:
    """Read a run directory; a path that is not one is a `UsageError`."""
    path = Path(run_dir)
    if not path.exists():
        raise UsageError(f"run directory {path} does not exist")
    if not path.is_dir():
        raise UsageError(f"{path} is a file, not a run directory")
    if not (path / RUN_JSON).is_file():
        raise UsageError(f"{path} is not a run directory (no {RUN_JSON})")
    return read_run(path)
