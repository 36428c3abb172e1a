"""The Locust process's running counters and action picking (issue 13's hot-path cuts):
same figures and same draws as the straightforward code they replaced."""

from __future__ import annotations

import random
import time

from harness.client import TokenFactory
from harness.load import Workload
from harness.load.measure import (
    ActionRecord,
    AnomalyKind,
    AnomalyRecord,
    DeliveryRecord,
    UserRecord,
)
from harness.load.process_context import ProcessContext
from harness.load.recorder import Counters


def _delivery(entity_id: str, version: int, t_recv: float, server_ts: float,
              replayed: int = 0) -> DeliveryRecord:  # fmt: skip
    return DeliveryRecord("u1", "u1#1", "team:t1", 1, "e", "record.updated", "deal", entity_id,
                          version, "team", t_recv, server_ts, 100, replayed, 0)  # fmt: skip


def test_counters_count_each_record_kind() -> None:
    counters = Counters()
    now = time.time()
    counters(ActionRecord("u1", "update", "rest", "deal", "d1", 2, "team", now - 0.05, now, 1,
                          "", 10, 0))  # fmt: skip
    counters(ActionRecord("u1", "view", "socket", "deal", "d1", 0, "", now, now, 1, "", 5, 0))
    counters(_delivery("d1", 2, now, now - 0.01))
    counters(_delivery("d1", 2, now, float("nan")))  # no server timestamp: no fan-out value
    counters(_delivery("d1", 2, now, now - 0.01, replayed=1))  # a replay is no live figure
    counters(AnomalyRecord(AnomalyKind.GAP, "u1", "team:t1", 3, "", "missing 2..2", 0, now))
    counters(AnomalyRecord(AnomalyKind.CONNECT_REFUSED, "u2", "", 0, "", "SERVER_BUSY", 0, now))
    counters(UserRecord("u2", "t1", "b1", 0, now, 2, 0))
    snap = counters.snapshot()
    assert (snap["changes_sent"], snap["changes_ok"], snap["deliveries"]) == (1, 1, 3)
    assert (snap["gaps"], snap["busy_refusals"], snap["connect_errors"]) == (1, 1, 2)
    assert len(snap["recent_e2e_ms"]) == 2  # the two live deliveries of the change sent
    assert abs(snap["recent_e2e_ms"][0] - 50.0) < 1e-3  # epoch floats: µs precision
    assert len(snap["recent_fanout_ms"]) == 1 and abs(snap["recent_fanout_ms"][0] - 10.0) < 1e-3
    # Without windows the counts are the same and the latency lists are not built.
    lean = counters.snapshot(windows=False)
    assert "recent_e2e_ms" not in lean and lean["deliveries"] == 3


def _context(seed: int) -> ProcessContext:
    return ProcessContext(url="http://x", tokens=TokenFactory("s" * 32),
                          workload=Workload(seed=seed), run_id="r", scenario="team_sync",
                          worker=0, workers=1, profiles=["core", "collab"], rest=None)  # fmt: skip


def test_pick_op_draws_as_weighted_choices_would() -> None:
    ctx = _context(seed=7)
    reference = random.Random()
    reference.seed(7 * 1000)  # ProcessContext's seeding of worker 0
    ops = list(ctx.mix)
    expected = [reference.choices(ops, weights=[ctx.mix[o] for o in ops])[0] for _ in range(500)]
    assert [ctx.pick_op() for _ in range(500)] == expected
    assert len(set(expected)) > 3  # the draws did cover the mix
