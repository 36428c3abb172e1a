"""Synthetic run directories with KNOWN latencies, losses and leaks, for the reporting tests.

Layout of `standard_run`: broker b1 with teams t1 (u1, u2, u3) and t2 (u4, u5), one socket
each. u1 makes 10 team updates (escrow:updated on team:t1); change i (0-based) reaches u1–u3
with end-to-end latency 10·(i+1) ms and fan-out latency 2 ms less. u4 makes 4 broker creates
(listing:created on broker:b1) that reach all five users at 100 ms end-to-end, 95 ms fan-out.
One replayed delivery with a 60 s latency must be left out of every latency figure. Anomalies:
a gap and a duplicate on team:t1, one isolation leak and one redaction leak.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.rundir import (
    ACTIONS_COLUMNS,
    ANOMALIES_COLUMNS,
    DELIVERIES_COLUMNS,
    GENERATOR_COLUMNS,
    USERS_COLUMNS,
)

__all__ = [
    "BROKER_CREATE_LATENCY_MS",
    "CREATE_BYTES",
    "T0",
    "TEAM",
    "TEAM_UPDATE_LATENCIES_MS",
    "UPDATE_BYTES",
    "RunSpec",
    "action",
    "add_change",
    "default_summary",
    "delivery",
    "latency_spec",
    "standard_spec",
    "write_run",
]

T0 = 1_800_000_000.0
TEAM = {"u1": "t1", "u2": "t1", "u3": "t1", "u4": "t2", "u5": "t2"}
TEAM_UPDATE_LATENCIES_MS = [10.0 * (i + 1) for i in range(10)]
BROKER_CREATE_LATENCY_MS = 100.0
UPDATE_BYTES = 400
CREATE_BYTES = 900


@dataclass
class RunSpec:
    """Rows to write; `summary` overrides merged over the consistent default summary."""

    deliveries: list[dict[str, Any]] = field(default_factory=list)
    actions: list[dict[str, Any]] = field(default_factory=list)
    anomalies: list[dict[str, Any]] = field(default_factory=list)
    generator: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    scenario: str = "team_sync"
    users: int = len(TEAM)
    duration_s: float = 20.0


def _write_csv(path: Path, header: Sequence[str], rows: Iterable[dict[str, Any]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(header), extrasaction="raise")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: row.get(k, "") for k in header})


def action(
    actor: str,
    op: str,
    entity: str,
    version: int,
    scope: str,
    t_send: float,
    *,
    entity_type: str = "escrow",
    ok: int = 1,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "actor": actor,
        "op": op,
        "transport": "rest",
        "entity_type": entity_type,
        "entity_id": entity,
        "version": version,
        "scope": scope,
        "t_send": t_send,
        "t_ack": t_send + 0.005,
        "ok": ok,
        "error_code": "",
        "bytes_sent": 200,
        "worker": "w0",
        **extra,
    }


def delivery(
    receiver: str,
    stream: str,
    seq: int,
    event: str,
    entity: str,
    version: int,
    t_recv: float,
    server_ts: float,
    nbytes: int,
    *,
    replayed: int = 0,
) -> dict[str, Any]:
    return {
        "receiver": receiver,
        "socket": f"{receiver}-s1",
        "stream": stream,
        "seq": seq,
        "event_id": f"{stream}#{seq}",
        "event": event,
        "entity_type": event.split(":")[0],
        "entity_id": entity,
        "version": version,
        "scope": stream.split(":")[0],
        "t_recv": t_recv,
        "server_ts": server_ts,
        "bytes": nbytes,
        "replayed": replayed,
        "worker": "w0",
    }


def add_change(
    spec: RunSpec,
    change: dict[str, Any],
    *,
    stream: str,
    seq: int,
    event: str,
    receivers: Iterable[str],
    e2e_ms: float,
    fanout_ms: float,
    nbytes: int,
) -> None:
    """One successful change and its delivery to each receiver at the given latencies."""
    spec.actions.append(change)
    t_recv = change["t_send"] + e2e_ms / 1000
    for user in receivers:
        spec.deliveries.append(
            delivery(
                user,
                stream,
                seq,
                event,
                change["entity_id"],
                change["version"],
                t_recv,
                t_recv - fanout_ms / 1000,
                nbytes,
            )
        )


def standard_spec() -> RunSpec:
    spec = RunSpec()
    for i, latency in enumerate(TEAM_UPDATE_LATENCIES_MS):
        change = action("u1", "update", "e-1", i + 2, "team", T0 + 1.0 + i)
        add_change(spec, change, stream="team:t1", seq=i + 1, event="escrow:updated",
                   receivers=("u1", "u2", "u3"), e2e_ms=latency, fanout_ms=latency - 2,
                   nbytes=UPDATE_BYTES)  # fmt: skip
    for j in range(4):
        change = action("u4", "create", f"l-{j}", 1, "broker", T0 + 12.0 + j,
                        entity_type="listing")  # fmt: skip
        add_change(spec, change, stream="broker:b1", seq=j + 1, event="listing:created",
                   receivers=TEAM, e2e_ms=BROKER_CREATE_LATENCY_MS, fanout_ms=95.0,
                   nbytes=CREATE_BYTES)  # fmt: skip
    # A replay long after the change: must not count as latency.
    spec.deliveries.append(
        delivery(
            "u2",
            "team:t1",
            1,
            "escrow:updated",
            "e-1",
            2,
            T0 + 61.0,
            T0 + 1.01,
            UPDATE_BYTES,
            replayed=1,
        )
    )
    spec.anomalies += [
        {
            "kind": "gap",
            "receiver": "u3",
            "stream": "team:t1",
            "seq": 11,
            "event_id": "",
            "detail": "missing 11",
        },
        {
            "kind": "duplicate",
            "receiver": "u2",
            "stream": "team:t1",
            "seq": 3,
            "event_id": "team:t1#3",
            "detail": "twice",
        },
        {
            "kind": "isolation_leak",
            "receiver": "u4",
            "stream": "team:t1",
            "seq": 4,
            "event_id": "team:t1#4",
            "detail": "not in u4's streams",
        },
        {
            "kind": "redaction_leak",
            "receiver": "u2",
            "stream": "team:t1",
            "seq": 5,
            "event_id": "team:t1#5",
            "detail": "myCommission",
        },
    ]
    for second in range(20):
        spec.generator.append(
            {
                "t": T0 + second,
                "worker": "w0",
                "cpu_percent": 20 + second,
                "loop_lag_ms": 1.5,
                "connected_users": min(5, second + 1),
                "rss_mb": 80,
                "changes_sent": 1,
                "deliveries": 3,
            }
        )
    return spec


def _percentiles(values: Sequence[float]) -> dict[str, float]:
    array = np.asarray(values, dtype=float)
    return {
        p: float(np.quantile(array, q))
        for p, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99), ("max", 1.0))
    }


def default_summary(spec: RunSpec) -> dict[str, Any]:
    """A summary consistent with the rows, as the load engine would write it."""
    live = [d for d in spec.deliveries if not d["replayed"]]
    sends = {(a["entity_id"], a["version"]): a["t_send"] for a in spec.actions if a["ok"]}
    e2e = [
        (d["t_recv"] - sends[(d["entity_id"], d["version"])]) * 1000
        for d in live
        if (d["entity_id"], d["version"]) in sends
    ]
    fanout = [(d["t_recv"] - d["server_ts"]) * 1000 for d in live]
    count = {
        k: sum(1 for a in spec.anomalies if a["kind"] == k)
        for k in ("gap", "duplicate", "out_of_order", "isolation_leak", "redaction_leak")
    }
    return {
        "users": spec.users,
        "duration_s": spec.duration_s,
        "actions": len(spec.actions),
        "deliveries": {"expected": len(live) + count["gap"], "received": len(live)},
        "loss": {"live": count["gap"], "final": 0},
        "duplicates": count["duplicate"],
        "out_of_order": count["out_of_order"],
        "isolation_leaks": count["isolation_leak"],
        "redaction_leaks": count["redaction_leak"],
        "latency_ms": {
            "e2e": _percentiles(e2e) if e2e else {},
            "fanout": _percentiles(fanout) if fanout else {},
        },
        "bytes_per_update": {"median": float(np.median([d["bytes"] for d in live]))}
        if live
        else {},
        "connect_errors": 0,
        "generator": {"cpu_percent_max": 39.0, "saturated": False},
    }


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def write_run(directory: Path, spec: RunSpec) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    run = {
        "scenario": spec.scenario,
        "url": "http://127.0.0.1:9",
        "users": spec.users,
        "spawn_rate": 10,
        "duration_s": spec.duration_s,
        "workers": 1,
        "started_at": T0,
        "ended_at": T0 + spec.duration_s,
        "server_info": {"server": "synthetic/0"},
        "config": {},
    }
    (directory / "run.json").write_text(json.dumps(run), encoding="utf-8")
    _write_csv(directory / "deliveries.csv", DELIVERIES_COLUMNS, spec.deliveries)
    extra = sorted({k for a in spec.actions for k in a} - set(ACTIONS_COLUMNS))
    _write_csv(directory / "actions.csv", [*ACTIONS_COLUMNS, *extra], spec.actions)
    users = [{"user_id": u, "team_id": t, "broker_id": "b1", "sockets": 1} for u, t in TEAM.items()]
    _write_csv(directory / "users.csv", USERS_COLUMNS, users)
    _write_csv(directory / "generator.csv", GENERATOR_COLUMNS, spec.generator)
    _write_csv(directory / "anomalies.csv", ANOMALIES_COLUMNS, spec.anomalies)
    summary = _merge(default_summary(spec), spec.summary)
    (directory / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    return directory


def latency_spec(
    latencies_ms: Sequence[float], *, receivers: int = 5, spacing_s: float = 0.1
) -> RunSpec:
    """One team update per value, `spacing_s` apart; every receiver gets it after exactly
    that latency."""
    spec = RunSpec(anomalies=[], generator=[])
    for i, latency in enumerate(latencies_ms):
        change = action("u1", "update", f"e-{i}", 2, "team", T0 + spacing_s * i)
        add_change(spec, change, stream="team:t1", seq=i + 1, event="escrow:updated",
                   receivers=list(TEAM)[:receivers], e2e_ms=latency, fanout_ms=latency / 2,
                   nbytes=UPDATE_BYTES)  # fmt: skip
    return spec
