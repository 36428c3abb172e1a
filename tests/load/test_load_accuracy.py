"""Accuracy: against a stub that delays and drops known events, the engine reads back exactly that.

The stub (load_stub_server.py) delays every live emit by a known amount after the event's
timestamp, drops every N-th event live, and with --withhold refuses to replay them. The
engine's figures must match what the stub did, socket by socket and stream by stream.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
import pandas as pd
import pytest
from load_stub_server import STUB_SECRET

from harness.load import LoadConfig, Workload, run_load

DELAY_MS = 20.0
DROP_EVERY = 7

pytestmark = pytest.mark.slow


def _workload() -> Workload:
    # Small teams and one tab each keep the stub's own fan-out cost well under the 2 ms
    # tolerance; all changes over `mutate` (the stub has no REST routes).
    return Workload(
        users_per_team=3,
        teams_per_broker=2,
        think_time_s=1.0,
        socket_share=1.0,
        second_tab_share=0.0,
        drain_s=1.0,
        final_sync_timeout_s=10.0,
        action_mix={"create": 0.3, "update": 0.6, "archive": 0.05, "delete": 0.05},
    )


def _run(url: str, run_dir: Path) -> tuple[dict, pd.DataFrame, list[tuple[str, int]]]:
    config = LoadConfig(
        users=12,
        spawn_rate=50,
        duration_s=6,
        url=url,
        jwt_secret=STUB_SECRET,
        workload=_workload(),
        report_dir=run_dir,
        quiet=True,
    )
    out = run_load(config)
    summary = json.loads((out / "summary.json").read_text())
    streams = pd.read_csv(out / "streams.csv")
    dropped = [(str(d[0]), int(d[1])) for d in httpx.get(url + "/stub/dropped").json()["dropped"]]
    return summary, streams, dropped


def _owed_drops(streams: pd.DataFrame, dropped: list[tuple[str, int]]) -> list[int]:
    """Per streams.csv row: how many dropped seqs that socket owed (after it joined)."""
    by_stream: dict[str, list[int]] = {}
    for stream, seq in dropped:
        by_stream.setdefault(stream, []).append(seq)
    return [
        sum(1 for seq in by_stream.get(row.stream, []) if row.start_seq < seq <= row.head)
        for row in streams.itertuples()
    ]


def test_reads_back_known_delay_and_losses(stub_server: Callable[..., str], tmp_path: Path) -> None:
    """STR-1, STR-2, STR-5, TRN-4: injected delay within 2 ms at p50; live loss exactly the
    dropped events each socket owed; the closing sync recovers all of them (final loss 0)."""
    url = stub_server(delay_ms=DELAY_MS, drop_every=DROP_EVERY)
    summary, streams, dropped = _run(url, tmp_path / "run")

    assert dropped, "the run made too few changes for the stub to drop any"
    fanout_p50 = summary["latency_ms"]["fanout"]["p50"]
    assert abs(fanout_p50 - DELAY_MS) <= 2.0, summary["latency_ms"]
    assert summary["latency_ms"]["e2e"]["p50"] >= DELAY_MS
    owed = _owed_drops(streams, dropped)
    assert list(streams["missing_live"]) == owed
    assert summary["loss"]["live"] == sum(owed) > 0
    assert summary["loss"]["final"] == 0
    assert summary["duplicates"] == 0 and summary["isolation_leaks"] == 0
    assert summary["deliveries"]["received"] == summary["deliveries"]["expected"]


def test_withheld_events_are_final_loss(stub_server: Callable[..., str], tmp_path: Path) -> None:
    """STR-2, STR-5: when the server's sync withholds the dropped events, final loss is exactly
    what each socket owed of them, and the run is red."""
    url = stub_server(drop_every=DROP_EVERY, withhold=True)
    summary, streams, dropped = _run(url, tmp_path / "run")

    owed = _owed_drops(streams, dropped)
    assert sum(owed) > 0
    assert list(streams["missing_final"]) == owed
    assert list(streams["missing_live"]) == owed
    assert summary["loss"]["final"] == summary["loss"]["live"] == sum(owed)
    assert summary["passed"] is False
    per_stream = Counter(stream for stream, _ in dropped)
    assert set(per_stream) <= set(streams["stream"])
