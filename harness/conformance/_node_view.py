"""The cluster view of a conformance run: each node's `/metrics` before and after the run, and
what the suite's own sockets received on each node, side by side with their sum.

Through a load balancer `/metrics` answers for one node at a time; given every node's URL the
report shows each node and the cluster. A node without `/metrics` shows blanks, never an error
(the view is a report, MET-1's check is what judges the endpoint).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pytest

from harness.client import NodeFigures, RealtimeClient, TargetConnection, scrape_node, sum_figures

__all__ = ["DELIVERED_PROPERTY", "NODE_COLUMNS", "SUM_ROW", "NodeView", "record_deliveries"]

DELIVERED_PROPERTY = "crm-delivered"
SUM_ROW = "sum"
# A row's keys as the reports show them, with their headings.
NODE_COLUMNS = {
    "connections": "connections at the end",
    "events_emitted": "events emitted",
    "events_received": "events received",
    "replayed": "replayed",
    "refusals": "refusals",
    "deliveries": "deliveries",
}


def record_deliveries(item: pytest.Item, clients: Iterable[RealtimeClient]) -> None:
    """Attach to the running test the stream events its sockets received, by node URL."""
    counts = Counter[str]()
    for client in clients:
        counts[client.url] += sum(1 for e in client.events if e.seq is not None)
    if counts:
        item.user_properties.append((DELIVERED_PROPERTY, json.dumps(dict(counts))))


@dataclass(slots=True)
class NodeView:
    """Scrapes every node at `start` and at `rows`; totals what the tests' sockets received."""

    connection: TargetConnection
    before: dict[str, NodeFigures | None] = field(default_factory=dict)
    delivered: Counter[str] = field(default_factory=Counter)

    def _scrape(self) -> dict[str, NodeFigures | None]:
        return {url: scrape_node(url, self.connection.options) for url in self.connection.urls}

    def start(self) -> None:
        self.before = self._scrape()

    def add_deliveries(self, user_properties: Iterable[tuple[str, object]]) -> None:
        for key, value in user_properties:
            if key == DELIVERED_PROPERTY:
                self.delivered.update(json.loads(str(value)))

    def rows(self) -> dict[str, dict[str, Any]]:
        """{node URL: figures, ..., "sum": figures}: the counters as their increase over the
        run, `connections` as the gauge at the end (sockets a node still counts after every
        check closed its own), `deliveries` as the suite's sockets received them."""
        after = self._scrape()
        figures: dict[str, NodeFigures] = {}
        for url, now in after.items():
            then = self.before.get(url)
            figures[url] = (now.since(then) if then is not None else now) if now else NodeFigures()
        rows = {url: _row(f, self.delivered.get(url, 0)) for url, f in figures.items()}
        rows[SUM_ROW] = _row(sum_figures(figures.values()), sum(self.delivered.values()))
        return rows


def _row(figures: NodeFigures, deliveries: int) -> dict[str, Any]:
    row = figures.to_json()
    row["deliveries"] = deliveries
    return row
