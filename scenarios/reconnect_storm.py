"""reconnect_storm: users drop and come back, then sync with the cursors they hold (STR-5).

A `reconnect_share` of users drop every `reconnect_interval_s` on average, stay away
`offline_s`, reconnect and sync; what the sync replays is marked `replayed` in deliveries.csv.
"""

from __future__ import annotations

import time

import gevent

from harness.load.locust_user import CrmUser

__all__ = ["ReconnectStormUser"]


class ReconnectStormUser(CrmUser):
    def on_start(self) -> None:
        super().on_start()
        ctx = self.agent.ctx
        if ctx.rng.random() < ctx.workload.reconnect_share:
            self._storm = gevent.spawn(self._drop_loop)

    def _drop_loop(self) -> None:
        ctx = self.agent.ctx
        while True:
            gevent.sleep(ctx.rng.expovariate(1.0 / ctx.workload.reconnect_interval_s))
            deadline = ctx.deadline
            if deadline is not None and time.time() + ctx.workload.offline_s >= deadline:
                return  # back online before the closing sync, never during it
            self.agent.reconnect(ctx.workload.offline_s)

    def on_stop(self) -> None:
        storm = getattr(self, "_storm", None)
        if storm is not None:
            storm.kill(block=False)
        super().on_stop()
