"""Live progress on the controlling process, and the decision to end the run.

Every few seconds: connected users, changes/s, deliveries/s, e2e p99 of the last window and
loss so far. After the deadline plus the drain, the run ends as soon as every user has done
its closing sync, or when the sync timeout passes.
"""

from __future__ import annotations

import sys
import time
from collections import deque
from typing import Any

import gevent
from locust.env import Environment

from harness.rundir import quantiles

from .process_context import CLOSING_SYNC_SPREAD_MAX_S
from .recorder import RECENT_WINDOW_S, Counters

__all__ = ["PRINT_INTERVAL_S", "Progress"]

PRINT_INTERVAL_S = 5.0


class Progress:
    """`counters`: this process's own, when it generates load itself (standalone); a master
    has none and totals what its workers report (`update`)."""

    def __init__(
        self, config: dict[str, Any], environment: Environment, counters: Counters | None = None
    ) -> None:
        self.config = config
        self.environment = environment
        self.counters = counters
        self.reports: dict[str, dict[str, Any]] = {}
        self.deadline = 0.0
        self._last: dict[str, float] = {}
        # (time, changes ok, deliveries) every loop turn: the rates over the recent window
        self._history: deque[tuple[float, int, int]] = deque()

    def update(self, client_id: str, snapshot: dict[str, Any]) -> None:
        self.reports[client_id] = snapshot

    def snapshots(self, windows: bool = True) -> dict[str, dict[str, Any]]:
        """The latest counters of every generator process, by process (Locust client id);
        `windows`: with this process's own recent latencies (a workers' report has them)."""
        if self.counters is not None:
            return {"standalone": self.counters.snapshot(windows)}
        return dict(self.reports)

    def start(self, deadline: float) -> None:
        self.deadline = deadline
        gevent.spawn(self._loop)

    def totals(self, windows: bool = True) -> dict[str, Any]:
        """Every process's counters summed; `e2e` and `fanout`: their recent values pooled
        (empty without `windows`)."""
        snaps = list(self.snapshots(windows).values())
        totals: dict[str, Any] = {
            key: sum(int(s.get(key, 0)) for s in snaps)
            for key in (
                "deliveries",
                "changes_sent",
                "changes_ok",
                "gaps",
                "leaks",
                "duplicates",
                "connected_users",
                "connect_errors",
                "busy_refusals",
                "final_synced",
                "final_missing",
            )
        }
        totals["e2e"] = [v for s in snaps for v in s.get("recent_e2e_ms", [])]
        totals["fanout"] = [v for s in snaps for v in s.get("recent_fanout_ms", [])]
        return totals

    def rates(self, totals: dict[str, Any], now: float) -> tuple[float | None, float | None]:
        """Changes acknowledged and deliveries per second over the recent window (None
        before the run has a second of history)."""
        older = [h for h in self._history if h[0] >= now - RECENT_WINDOW_S]
        if not older or now - older[0][0] < 1.0:
            return None, None
        t, changes, deliveries = older[0]
        span = now - t
        return (totals["changes_ok"] - changes) / span, (totals["deliveries"] - deliveries) / span

    def _remember(self, totals: dict[str, Any], now: float) -> None:
        self._history.append((now, int(totals["changes_ok"]), int(totals["deliveries"])))
        while self._history and self._history[0][0] < now - 2 * RECENT_WINDOW_S:
            self._history.popleft()

    def _print(self, totals: dict[str, Any], now: float) -> None:
        elapsed = now - self._last.get("t", now - PRINT_INTERVAL_S)
        span = max(elapsed, 1e-9)
        rate_changes = (totals["changes_sent"] - self._last.get("changes", 0)) / span
        rate_ok = (totals["changes_ok"] - self._last.get("changes_ok", 0)) / span
        rate_deliv = (totals["deliveries"] - self._last.get("deliveries", 0)) / span
        self._last = {
            "t": now,
            "changes": totals["changes_sent"],
            "changes_ok": totals["changes_ok"],
            "deliveries": totals["deliveries"],
        }
        found = quantiles(totals["e2e"], (0.99,))
        tail = found[0] if found is not None else None
        left = self.deadline - now
        phase = f"{left:4.0f}s left" if left > 0 else "closing sync"
        print(
            f"[load] {phase} | users {totals['connected_users']}/{self.config['users']}"
            f" | changes/s {rate_changes:6.1f} (ok {rate_ok:6.1f}) | deliveries/s {rate_deliv:7.1f}"
            f" | e2e p99 {'-' if tail is None else f'{tail:.1f} ms'}"
            f" | gaps {totals['gaps']} dup {totals['duplicates']} leaks {totals['leaks']}"
            f" | connect errors {totals['connect_errors']}"
            f" | refused busy {totals['busy_refusals']}",
            file=sys.stderr,
            flush=True,
        )

    def _loop(self) -> None:
        drain = float(self.config["workload"].get("drain_s", 2.0))
        sync_timeout = float(self.config["workload"].get("final_sync_timeout_s", 30.0))
        spread = CLOSING_SYNC_SPREAD_MAX_S
        give_up = self.deadline + drain + spread + sync_timeout + 5.0
        next_print = time.time() + PRINT_INTERVAL_S
        while True:
            gevent.sleep(0.5)
            now = time.time()
            printing = now >= next_print
            # The recent latencies only for a line that shows them: scanning them every turn
            # was ~1 % of a standalone generator's CPU (issue 13).
            totals = self.totals(windows=printing)
            self._remember(totals, now)
            if printing:
                next_print = now + PRINT_INTERVAL_S
                self._print(totals, now)
            runner = self.environment.runner
            assert runner is not None
            users = runner.user_count
            done = now > self.deadline + drain and users > 0 and totals["final_synced"] >= users
            if done or now > give_up:
                if not done:
                    print(
                        f"[load] closing sync incomplete: {totals['final_synced']}/{users} users"
                        " synced before the timeout",
                        file=sys.stderr,
                        flush=True,
                    )
                self._print(self.totals(), now)
                runner.quit()
                if self.environment.web_ui is not None:
                    # With --web the UI's greenlet is what keeps the process alive.
                    self.environment.web_ui.stop()
                return
