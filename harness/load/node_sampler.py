"""Each node's own `/metrics` over a load run, for the report's cluster view.

Behind a load balancer `/metrics` answers for one node at a time, so the controlling process
scrapes every node URL it was given: once before the run, every `interval_s` during it (the
connections gauge only means something while the users are connected: its peak is kept, per
node and summed at each sampling), and once after (the counters' increase). A node without
`/metrics` leaves its figures None; nothing here can fail a run.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.client import NodeFigures, scrape_node

__all__ = ["NodeSampler"]

Scrape = Callable[[str], NodeFigures | None]


def _peak(old: int | None, new: float | None) -> int | None:
    if new is None:
        return old
    return int(new) if old is None else max(old, int(new))


@dataclass
class NodeSampler:
    urls: Sequence[str]
    interval_s: float = 2.0
    scrape: Scrape = field(default=lambda url: scrape_node(url, timeout=3.0))
    _before: dict[str, NodeFigures | None] = field(default_factory=dict)
    _peaks: dict[str, int | None] = field(default_factory=dict)
    _sum_peak: int | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _sample(self) -> dict[str, NodeFigures | None]:
        now = {url: self.scrape(url) for url in self.urls}
        gauges = [
            f.connections for f in now.values() if f is not None and f.connections is not None
        ]
        for url, figures in now.items():
            gauge = figures.connections if figures is not None else None
            self._peaks[url] = _peak(self._peaks.get(url), gauge)
        if gauges:
            self._sum_peak = _peak(self._sum_peak, sum(gauges))
        return now

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._sample()

    def start(self) -> None:
        self._before = self._sample()
        self._thread = threading.Thread(target=self._loop, name="node-metrics", daemon=True)
        self._thread.start()

    def stop(self) -> dict[str, Any]:
        """Ends the sampling; run.json's `node_metrics` (harness.rundir reads it)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        after = self._sample()
        nodes: dict[str, dict[str, Any]] = {}
        for url in self.urls:
            now, then = after.get(url), self._before.get(url)
            delta = now.since(then) if now is not None and then is not None else now
            figures = delta.to_json() if delta is not None else {}
            nodes[url] = {
                "connections_max": self._peaks.get(url),
                "events_emitted": figures.get("events_emitted"),
                "refusals": figures.get("refusals"),
            }
        return {"nodes": nodes, "connections_max": self._sum_peak}
