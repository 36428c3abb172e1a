"""The write path: how the server answered the changes the agents sent, by transport and op.

From actions.csv (one row per change sent, REST or the socket's `mutate`): ack latency
(send → answer, over the requests the server answered) and the errors by code, the server's
§13 codes and the generator's own (`TIMEOUT`, `DISCONNECTED`: no answer came).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from ._latency import Percentiles
from .records import CHANGE_OPS, LocalError, Transport

__all__ = ["WRITE_TRANSPORTS", "WriteFigures", "write_path"]

# summary.json's names of the two ways a change is sent (actions.csv `transport`).
WRITE_TRANSPORTS: dict[str, str] = {Transport.REST.value: "rest", Transport.SOCKET.value: "mutate"}
_NO_ANSWER = frozenset(str(code) for code in LocalError)


@dataclass(frozen=True, slots=True)
class WriteFigures:
    """Changes sent one way (and, in `by_op`, per op): how many, how many acknowledged ok,
    the errors by code, and the ack latency of those answered."""

    requests: int | None = None
    ok: int | None = None
    errors: dict[str, int] = field(default_factory=dict)
    ack_ms: Percentiles = field(default_factory=Percentiles)
    by_op: dict[str, WriteFigures] = field(default_factory=dict)

    @property
    def error_ratio(self) -> float | None:
        if not self.requests or self.ok is None:
            return None
        return (self.requests - self.ok) / self.requests


def _figures(rows: pd.DataFrame, *, with_ops: bool) -> WriteFigures:
    failed = rows[rows["ok"] != 1]
    codes = failed["error_code"].astype(str).replace("", "UNKNOWN")
    answered = rows[~rows["error_code"].astype(str).isin(_NO_ANSWER)]
    by_op = {}
    if with_ops:
        by_op = {str(op): _figures(group, with_ops=False) for op, group in rows.groupby("op")}
    return WriteFigures(
        requests=len(rows),
        ok=int((rows["ok"] == 1).sum()),
        errors={str(code): int(n) for code, n in codes.value_counts().sort_index().items()},
        ack_ms=Percentiles.of((answered["t_ack"] - answered["t_send"]) * 1000),
        by_op=by_op,
    )


def write_path(actions: pd.DataFrame) -> dict[str, WriteFigures]:
    """`{"rest": ..., "mutate": ...}`, each present when the run sent changes that way."""
    changes = actions[actions["op"].isin(CHANGE_OPS)]
    found = {}
    for transport, name in WRITE_TRANSPORTS.items():
        rows = changes[changes["transport"] == transport]
        if len(rows):
            found[name] = _figures(rows, with_ops=True)
    return found
