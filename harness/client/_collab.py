"""Collaboration helpers over a `RealtimeClient` (SPEC §10): a presence roster that follows
`user:presence:*`, and a record's viewers/editing tracker.

Both read the client's event log, so nothing is lost between creating a helper and reading
it, and both keep what a check needs to judge the server: every transition in order.

```python
roster = PresenceRoster(client); await roster.load()        # presence:list as the baseline
await roster.wait_online("u-2", 5.0); roster.online        # {"u-2": "Bea", ...}
record = RecordPresence(client, "escrow", "e-1"); await record.view()
await record.wait_viewers({"u-1", "u-2"}, 5.0); record.editing   # the last user:editing
```
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.spec import ClientEvent, ServerEvent

from ._messages import Ack, ReceivedEvent
from ._realtime import RealtimeClient

__all__ = ["PresenceRoster", "PresenceTransition", "RecordPresence"]

_POLL_SECONDS = 0.02


async def _until(predicate: Callable[[], bool], timeout: float) -> bool:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(_POLL_SECONDS)
    return True


@dataclass(frozen=True, slots=True)
class PresenceTransition:
    user_id: str
    name: str
    online: bool
    received_at: float  # time.time() on arrival


@dataclass
class PresenceRoster:
    """Who is online in the client's team, from `presence:list` plus live presence events."""

    client: RealtimeClient
    names: dict[str, str] = field(default_factory=dict)  # online user id -> name
    connections: dict[str, int] = field(default_factory=dict)  # from the last presence:list
    transitions: list[PresenceTransition] = field(default_factory=list)
    _cursor: int = 0

    async def load(self) -> Ack:
        """`presence:list` (COL-2); its answer becomes the baseline, later events apply on top."""
        self._cursor = self.client.mark()
        ack = await self.client.request(ClientEvent.PRESENCE_LIST, {})
        online = ack.data.get("online") if ack.ok else None
        if isinstance(online, list):
            entries = [e for e in online if isinstance(e, Mapping)]
            self.names = {str(e.get("userId")): str(e.get("name")) for e in entries}
            self.connections = {str(e.get("userId")): int(e.get("connections", 0)) for e in entries}
        return ack

    def _apply(self) -> None:
        for event in self.client.events[self._cursor :]:
            online = {ServerEvent.PRESENCE_ONLINE: True, ServerEvent.PRESENCE_OFFLINE: False}
            if event.name not in online:
                continue
            user_id, name = str(event.get("userId")), str(event.get("name"))
            is_online = online[event.name]
            self.transitions.append(PresenceTransition(user_id, name, is_online, event.received_at))
            if is_online:
                self.names[user_id] = name
            else:
                self.names.pop(user_id, None)
        self._cursor = len(self.client.events)

    @property
    def online(self) -> dict[str, str]:
        self._apply()
        return dict(self.names)

    def transitions_of(self, user_id: str) -> list[PresenceTransition]:
        self._apply()
        return [t for t in self.transitions if t.user_id == user_id]

    def repeated(self) -> list[PresenceTransition]:
        """Transitions that repeat the previous state of their user (online twice in a row):
        a server announcing once per node or per tab instead of once per change (COL-1)."""
        self._apply()
        last: dict[str, bool] = {}
        repeats = []
        for t in self.transitions:
            if last.get(t.user_id) == t.online:
                repeats.append(t)
            last[t.user_id] = t.online
        return repeats

    async def wait_online(self, user_id: str, timeout: float) -> bool:  # noqa: ASYNC109
        return await _until(lambda: user_id in self.online, timeout)

    async def wait_offline(self, user_id: str, timeout: float) -> bool:  # noqa: ASYNC109
        return await _until(lambda: user_id not in self.online, timeout)


@dataclass
class RecordPresence:
    """One record's room as the client sees it: viewers (COL-3) and the edit lock (COL-4)."""

    client: RealtimeClient
    entity_type: str
    entity_id: str
    viewers: list[dict[str, Any]] = field(default_factory=list)
    _since: int = 0

    @property
    def ref(self) -> dict[str, str]:
        return {"entityType": self.entity_type, "entityId": self.entity_id}

    def _mine(self, name: str) -> list[ReceivedEvent]:
        return self.client.received(
            lambda e: (
                e.name == name
                and e.get("entityType") == self.entity_type
                and e.get("entityId") == self.entity_id
            ),
            since=self._since,
        )

    async def view(self) -> Ack:
        self._since = self.client.mark()
        ack = await self.client.request(ClientEvent.RECORD_VIEW, self.ref)
        if ack.ok and isinstance(ack.data.get("viewers"), list):
            self.viewers = list(ack.data["viewers"])
        return ack

    async def leave(self) -> Ack:
        return await self.client.request(ClientEvent.RECORD_LEAVE, self.ref)

    async def start_editing(self) -> Ack:
        return await self.client.request(ClientEvent.RECORD_EDIT_START, self.ref)

    async def stop_editing(self) -> Ack:
        return await self.client.request(ClientEvent.RECORD_EDIT_STOP, self.ref)

    async def typing(self, state: str = "start") -> Ack:
        return await self.client.request(ClientEvent.TYPING, {**self.ref, "state": state})

    def viewer_ids(self) -> set[str]:
        """The distinct viewing users: the last `user:viewing`, else the view ack's list."""
        updates = self._mine(ServerEvent.VIEWING)
        latest = updates[-1].get("viewers") if updates else self.viewers
        return {str(v.get("userId")) for v in latest or [] if isinstance(v, Mapping)}

    @property
    def editing_events(self) -> list[ReceivedEvent]:
        return self._mine(ServerEvent.EDITING)

    @property
    def editing(self) -> ReceivedEvent | None:
        events = self.editing_events
        return events[-1] if events else None

    @property
    def typing_events(self) -> list[ReceivedEvent]:
        return self._mine(ServerEvent.TYPING)

    async def wait_viewers(self, user_ids: Collection[str], timeout: float) -> bool:  # noqa: ASYNC109
        wanted = set(user_ids)
        return await _until(lambda: self.viewer_ids() == wanted, timeout)

    async def wait_editing(self, state: str, timeout: float) -> ReceivedEvent | None:  # noqa: ASYNC109
        def with_state() -> ReceivedEvent | None:
            return next((e for e in self.editing_events if e.get("state") == state), None)

        await _until(lambda: with_state() is not None, timeout)
        return with_state()
