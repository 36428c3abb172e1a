"""Latency in one place: the one percentile definition and the one end-to-end join.

Percentiles interpolate linearly between order statistics (numpy's and pandas' default),
everywhere: summary.json, the reports, compare, live progress.

End-to-end latency joins each delivery to the successful change that made it by (entity_id,
version): the actor's `t_send` may come from another worker process, so no per-process key
would do. A record is deleted at most once, so a `deleted` event matches the successful
delete of its entity whatever version the actor recorded (the actor may have known a stale
version, and a REST 204 carries none; runs before the fix recorded 0).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from harness.spec import Action, Op

from .records import CHANGE_OPS

__all__ = [
    "LOW_SAMPLE",
    "PERCENTILES",
    "LatencyKind",
    "Percentiles",
    "change_send_times",
    "percentile_row",
    "quantiles",
    "successful_changes",
]

# Percentiles the reports show, as (label, quantile).
PERCENTILES: tuple[tuple[str, float], ...] = (
    ("p50", 0.50), ("p90", 0.90), ("p95", 0.95), ("p99", 0.99), ("max", 1.0),
)  # fmt: skip


class LatencyKind:
    E2E = "e2e"  # actor's send → recipient's receive
    FANOUT = "fanout"  # server timestamp → recipient's receive

    ALL: tuple[str, ...] = (E2E, FANOUT)


def _clean(values: Any) -> np.ndarray:
    array = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float)
    cleaned: np.ndarray = array[~np.isnan(array)]
    return cleaned


def quantiles(values: Any, qs: Sequence[float]) -> list[float] | None:
    """THE percentile function: linear interpolation over the values that are numbers;
    None when there are none."""
    array = _clean(values)
    if not array.size:
        return None
    return [float(q) for q in np.quantile(array, list(qs))]


# Under this many samples a percentile says little (a p99 of 60 values is their second
# largest): reports mark such figures `low-sample` and gates on them say so.
LOW_SAMPLE = 100


@dataclass(frozen=True, slots=True)
class Percentiles:
    """p50/p90/p95/p99/max of a latency in ms, as summary.json holds them (rounded to 0.01;
    None when nothing was measured), and `count`, the samples they rest on (None in
    summaries written before it was recorded)."""

    p50: float | None = None
    p95: float | None = None
    p99: float | None = None
    max: float | None = None
    p90: float | None = None
    count: int | None = None

    @classmethod
    def of(cls, values: Any) -> Percentiles:
        found = quantiles(values, (0.5, 0.9, 0.95, 0.99, 1.0))
        if found is None:
            return cls(count=0)
        p50, p90, p95, p99, top = (round(v, 2) for v in found)
        return cls(p50, p95, p99, top, p90=p90, count=int(_clean(values).size))

    @classmethod
    def from_json(cls, data: object) -> Percentiles:
        """Lenient: a missing or non-numeric percentile is None (not measured)."""
        if not isinstance(data, dict):
            return cls()
        found = {label: _number(data.get(label)) for label in _JSON_ORDER}
        count = found.pop("count")
        return cls(**found, count=int(count) if count is not None else None)

    def to_json(self) -> dict[str, float | None]:
        values = asdict(self)
        return {label: values[label] for label in _JSON_ORDER}

    @property
    def low_sample(self) -> bool:
        """Measured, but on fewer than LOW_SAMPLE values."""
        return self.count is not None and 0 < self.count < LOW_SAMPLE


_JSON_ORDER = ("p50", "p90", "p95", "p99", "max", "count")


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        return None  # absent, not a number, or NaN: not measured
    return float(value)


def percentile_row(values_ms: Any) -> dict[str, float]:
    """The reports' row: the sample count and p50…max, NaN when there are no samples."""
    labels = [label for label, _ in PERCENTILES]
    found = quantiles(values_ms, [q for _, q in PERCENTILES])
    row: dict[str, float] = {"count": float(_clean(values_ms).size)}
    row.update(zip(labels, found or [float("nan")] * len(labels), strict=True))
    return row


def successful_changes(actions: pd.DataFrame) -> pd.DataFrame:
    """Acknowledged changes (the ops of `CHANGE_OPS` with ok = 1), in file order."""
    ok: pd.DataFrame = actions[(actions["ok"] == 1) & actions["op"].isin(CHANGE_OPS)]
    return ok


def change_send_times(
    frame: pd.DataFrame, actions: pd.DataFrame, *, by_event: bool = True
) -> pd.Series:
    """For each row of `frame` (entity_id, version and, with `by_event`, event), the `t_send`
    of the successful change that made it; NaN where none matches.

    With `by_event`, a `deleted` event matches its entity's delete and any other event a
    change other than a delete; without (rows that carry no event name, such as a refetch's),
    any change with the same (entity_id, version).
    """
    changes = successful_changes(actions)
    is_delete = changes["op"] == Op.DELETE.value
    keyed = changes[~is_delete] if by_event else changes
    keyed = keyed.drop_duplicates(["entity_id", "version"]).set_index(["entity_id", "version"])
    index = pd.MultiIndex.from_arrays([frame["entity_id"], frame["version"]])
    sends = pd.Series(keyed["t_send"].reindex(index).to_numpy(dtype=float), index=frame.index)
    if not by_event:
        return sends
    deleted = frame["event"].astype(str).str.endswith(f":{Action.DELETED.value}")
    deletes = changes[is_delete].drop_duplicates("entity_id").set_index("entity_id")["t_send"]
    sends[deleted] = frame.loc[deleted, "entity_id"].map(deletes).astype(float)
    return sends
