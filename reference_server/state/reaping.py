"""What a dead node left behind in the cluster state, for whoever must announce it.

When a node crashes, no disconnect handler runs for its sockets. `RedisClusterState` reaps
its entries once its heartbeat expires (or when it starts again), in one atomic script, so
exactly one node learns what was removed: the sockets, the users who now have none anywhere
(COL-1 offline), and the viewer entries (COL-3 rooms, and any set built on `add_viewer`).
Listeners get a `ReapedNode` and may emit what the dead node never could.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .base import Viewer

__all__ = ["ReapListener", "ReapedNode", "reaped_from_script"]


@dataclass(frozen=True, slots=True)
class ReapedNode:
    node_id: str
    connections: tuple[tuple[str, str], ...]  # (user id, sid)
    offline_users: tuple[str, ...]  # no socket left anywhere in the cluster
    viewers: tuple[tuple[str, str, Viewer], ...]  # (record key, sid, viewer)

    @property
    def empty(self) -> bool:
        return not self.connections and not self.viewers


ReapListener = Callable[[ReapedNode], Awaitable[None]]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def reaped_from_script(node_id: str, rows: Sequence[Sequence[Any]]) -> ReapedNode:
    """Parse REAP_NODE's answer (`_redis_scripts`)."""
    connections: list[tuple[str, str]] = []
    offline: list[str] = []
    viewers: list[tuple[str, str, Viewer]] = []
    for row in rows:
        kind, key, sid, extra = (_text(part) for part in row)
        if kind == "c":
            connections.append((key, sid))
            if extra == "1":
                offline.append(key)
        else:
            data = json.loads(extra)
            viewers.append((key, sid, Viewer(data["userId"], data["name"])))
    return ReapedNode(node_id, tuple(connections), tuple(offline), tuple(viewers))
