"""The cluster view of a load run: each node of the target side by side with their sum.

The generator's side comes from streams.csv (`node`: the index in run.json's `urls` of the node
a socket was on); the nodes' own side from run.json's `node_metrics`, which the load engine
writes from each node's `/metrics` scraped before, during and after the run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from ._summary import ClusterView, NodeRunFigures

__all__ = ["NODE_METRICS_KEY", "cluster_view", "received_live_by_node"]

# run.json: {"nodes": {url: {"connections_max", "events_emitted", "refusals"}},
#            "connections_max": peak of the summed gauges}
NODE_METRICS_KEY = "node_metrics"
_SERVER_FIELDS = ("connections_max", "events_emitted", "refusals")


def _by_node(values: pd.Series, node: pd.Series, urls: list[str]) -> dict[str, int]:
    counts = values.groupby(node).sum() if len(values) else pd.Series(dtype=int)
    return {(urls[i] if i < len(urls) else str(i)): int(n) for i, n in counts.items()}


def _nodes(streams: pd.DataFrame) -> pd.Series:
    return streams["node"].fillna(0).astype(int)


def received_live_by_node(streams: pd.DataFrame, urls: list[str] | None) -> dict[str, int]:
    """Events received live per node the receiving socket was on (streams.csv `node`), by
    node URL when run.json lists them; older runs without the column count as node 0."""
    if streams.empty:
        return {}
    return _by_node(streams["received_live"], _nodes(streams), list(urls or []))


def _count(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value)


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _total(values: list[int | None]) -> int | None:
    present = [v for v in values if v is not None]
    return sum(present) if present else None


def cluster_view(streams: pd.DataFrame, run: Mapping[str, Any]) -> ClusterView:
    urls = [str(u) for u in run.get("urls") or ([run["url"]] if run.get("url") else [])]
    deliveries = received_live_by_node(streams, urls)
    sockets: dict[str, int] = {}
    if not streams.empty:
        per_socket = streams.drop_duplicates("socket")
        sockets = _by_node(pd.Series(1, index=per_socket.index), _nodes(per_socket), urls)
    measured = _mapping(run.get(NODE_METRICS_KEY))
    server = _mapping(measured.get("nodes"))
    names = list(dict.fromkeys([*urls, *sockets, *deliveries, *server]))
    nodes: dict[str, NodeRunFigures] = {}
    for name in names:
        own = _mapping(server.get(name))
        nodes[name] = NodeRunFigures(
            sockets=sockets.get(name, 0),
            deliveries=deliveries.get(name, 0),
            **{key: _count(own.get(key)) for key in _SERVER_FIELDS},
        )
    rows = list(nodes.values())
    total = NodeRunFigures(
        sockets=_total([r.sockets for r in rows]),
        connections_max=_count(measured.get("connections_max")),
        events_emitted=_total([r.events_emitted for r in rows]),
        deliveries=_total([r.deliveries for r in rows]),
        refusals=_total([r.refusals for r in rows]),
    )
    return ClusterView(nodes, total)
