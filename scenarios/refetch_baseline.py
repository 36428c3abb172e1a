"""refetch_baseline: clients refetch the whole list over REST on every event they receive.

What CRMs without incremental updates do; the comparison point for bytes and latency per
update (actions.csv `refetch` rows: `bytes_received`, and `t_ack` joined to the change).
"""

from __future__ import annotations

from typing import Any

import gevent

from harness.load.locust_user import CrmUser

__all__ = ["RefetchUser"]


class RefetchUser(CrmUser):
    def on_start(self) -> None:
        super().on_start()
        self.agent.on_data_event = self._refetch

    def _refetch(self, payload: dict[str, Any]) -> None:
        # Off the socket's reader greenlet: a slow REST call must not hold up later events.
        stream = str(payload.get("stream", ""))
        gevent.spawn(
            self.agent.actions.refetch,
            str(payload.get("entityType", "")),
            str(payload.get("entityId", "")),
            int(payload.get("version") or 0),
            stream.split(":", 1)[0],
        )
