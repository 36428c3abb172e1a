"""Fan-out of stored events with per-recipient redaction (EVT-1, EVT-2, RED-3).

One logical emit per event goes to the event's stream room. When the owner's copy differs
from everyone else's, the payload is a *variants marker* — a plain JSON object, so it crosses
a pub/sub backend unchanged — and `RedactingManager` encodes each variant once and picks one
per participant by the socket's user. No per-socket Python work beyond choosing a prebuilt
packet, and a socket in several of the addressed rooms still gets one copy (EVT-2).

The cluster work composes it as `class RedisFanoutManager(socketio.AsyncRedisManager,
RedactingManager)`: AsyncPubSubManager's `_handle_emit` calls `super().emit`, which the MRO
resolves to `RedactingManager.emit` on every node, each with its own local sid→user map.

Durable events enter through `publish_event`. A pub/sub manager publishes an event given a
`once_key` at most once across the cluster, whoever tries (`realtime.outbox`). And a stream
broadcast skips the sockets whose `sync` already covered its seq: after a sync acked `head`
for a stream, the socket holds every seq up to it (STR-2), so a late live copy — an event
whose publication was delayed, e.g. recovered from a crashed node's outbox — would only be a
duplicate for the client to drop.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import socketio
from engineio import packet as eio_packet
from socketio import packet as sio_packet

from ..store.base import StoredEvent

__all__ = [
    "VARIANTS_KEY",
    "EventVariants",
    "PublishFailed",
    "RedactingManager",
    "SocketPublisher",
    "variants_marker",
]

VARIANTS_KEY = "__variants__"

# (the owner's wire payload, everyone else's — None when it is the same), e.g.
# `domain.redaction.event_variants`.
EventVariants = Callable[[StoredEvent], tuple[dict[str, Any], dict[str, Any] | None]]


class PublishFailed(Exception):
    """The pub/sub backend did not confirm a publication; whether it happened is unknown (a
    once-only publication may be tried again safely)."""


def variants_marker(
    owner_id: str, owner: Mapping[str, Any] | None, other: Mapping[str, Any]
) -> dict:
    return {VARIANTS_KEY: {"ownerId": owner_id, "owner": owner, "other": other}}


class RedactingManager(socketio.AsyncManager):
    """An AsyncManager that understands variants markers; everything else passes through."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.socket_users: dict[str, str] = {}  # local sid -> user id
        self._rooms_of: dict[tuple[str, str], set[str | None]] = {}  # (namespace, sid) -> rooms
        # (namespace, sid) -> packets for a socket whose CONNECT is not sent yet: the connect
        # handler joins rooms, then may await (cluster state, presence on Redis) while other
        # work broadcasts to those rooms; a socket must get no event before its CONNECT.
        self._held: dict[tuple[str, str], list[tuple[str, eio_packet.Packet]]] = {}
        # sid -> {stream: the head its last sync covered}: live copies up to it are not sent.
        self._synced_through: dict[str, dict[str, int]] = {}

    # -- durable events -------------------------------------------------------------------------
    async def publish_event(
        self, event: str, data: Any, room: str, once_key: str | None = None
    ) -> bool:
        """Emit a durable event to its stream's room; False when `once_key` was published
        already (by anyone), so nothing was sent. One node has no one to race: always True."""
        await self.emit(event, data, namespace="/", room=room)
        return True

    async def forget_published(self, once_keys: Sequence[str]) -> None:
        """These keys will never be tried again: the record of their publication may go."""

    async def trim_published(self, older_than: float) -> None:
        """Drop records of publications older than `older_than` (epoch seconds)."""

    def note_synced(self, sid: str, heads: Mapping[str, int]) -> None:
        """The socket's sync replays (or found it held) everything up to each head."""
        # A sync naming no stream (the heads only) leaves nothing to skip; a socket gone
        # meanwhile must leave no entry behind.
        if not heads or sid not in self.socket_users:
            return
        covered = self._synced_through.setdefault(sid, {})
        for stream, head in heads.items():
            covered[stream] = max(covered.get(stream, 0), head)

    # -- events held until CONNECT ---------------------------------------------------------------
    async def pre_connect(self, eio_sid: str, namespace: str) -> str | None:
        sid: str | None = await super().pre_connect(eio_sid, namespace)
        if sid is not None:
            self._held[(namespace, sid)] = []
        return sid

    async def connect(self, sid: str, namespace: str) -> Any:
        """Called by the server right after it sent CONNECT: release what was held, in order."""
        connected = await super().connect(sid, namespace)
        key = (namespace, connected)
        held = self._held.get(key)
        # Still registered while flushing, so an emit meanwhile queues behind the held ones.
        while held:
            eio_sid, pkt = held.pop(0)
            await self._send_packet(sid, eio_sid, pkt)
        self._held.pop(key, None)
        return connected

    async def _send_packet(self, sid: str, eio_sid: str, pkt: eio_packet.Packet) -> None:
        try:
            await self.server._send_eio_packet(eio_sid, pkt)
        except Exception:  # a socket closing mid-emit must not cost the others theirs
            self._get_logger().debug("fan-out: send to %s failed", sid)

    def bind_user(self, sid: str, user_id: str) -> None:
        self.socket_users[sid] = user_id

    def unbind_user(self, sid: str) -> None:
        self.socket_users.pop(sid, None)

    # -- room bookkeeping: the library scans every room of the namespace on each disconnect,
    # O(sockets) per disconnect and O(sockets²) for a reconnect storm (profiled: 2,000 sockets
    # spent 11 s in it). A reverse index makes a disconnect cost the rooms of that socket only.
    def basic_enter_room(
        self, sid: str, namespace: str, room: str | None, eio_sid: str | None = None
    ) -> None:
        super().basic_enter_room(sid, namespace, room, eio_sid=eio_sid)
        self._rooms_of.setdefault((namespace, sid), set()).add(room)

    def basic_leave_room(self, sid: str, namespace: str, room: str | None) -> None:
        super().basic_leave_room(sid, namespace, room)
        rooms = self._rooms_of.get((namespace, sid))
        if rooms is not None:
            rooms.discard(room)
            if not rooms:
                del self._rooms_of[(namespace, sid)]

    def basic_disconnect(self, sid: str, namespace: str, **kwargs: Any) -> None:
        """The library's `basic_disconnect`, with the room scan replaced by the index."""
        if namespace not in self.rooms:
            return
        for room in list(self._rooms_of.get((namespace, sid), ())):
            self.basic_leave_room(sid, namespace, room)
        self.callbacks.pop(sid, None)
        self._held.pop((namespace, sid), None)  # refused or gone before CONNECT: never sent
        self._synced_through.pop(sid, None)
        for pending in (self.pending_connect, self.pending_disconnect):
            if namespace in pending and sid in pending[namespace]:
                pending[namespace].remove(sid)
                if not pending[namespace]:
                    del pending[namespace]

    def get_rooms(self, sid: str, namespace: str) -> list[str]:
        return [r for r in self._rooms_of.get((namespace, sid), ()) if r is not None]

    def _encode(self, event: str, args: list[Any], namespace: str) -> list[eio_packet.Packet]:
        pkt = self.server.packet_class(sio_packet.EVENT, namespace=namespace, data=[event, *args])
        encoded = pkt.encode()
        if not isinstance(encoded, list):
            encoded = [encoded]
        return [eio_packet.Packet(eio_packet.MESSAGE, p) for p in encoded]

    async def emit(
        self,
        event: str,
        data: Any,
        namespace: str,
        room: Any = None,
        skip_sid: Any = None,
        callback: Any = None,
        to: Any = None,
        **kwargs: Any,
    ) -> None:
        if callback is not None:  # per-recipient ack ids: the library's own path
            await super().emit(
                event, data, namespace, room=room, skip_sid=skip_sid, callback=callback, to=to,
                **kwargs,
            )  # fmt: skip
            return
        room = to or room
        namespace = namespace or "/"
        if namespace not in self.rooms:
            return
        variants = data.get(VARIANTS_KEY) if isinstance(data, dict) else None
        if variants is None:
            args = list(data) if isinstance(data, tuple) else ([] if data is None else [data])
            owner_id, owner_packets = None, self._encode(event, args, namespace)
            other_packets = owner_packets
        else:
            owner_id = variants["ownerId"]
            # An owner copy of None: the owner's sockets get nothing (COL-6, no typing echo).
            owner_copy = variants["owner"]
            owner_packets = (
                [] if owner_copy is None else self._encode(event, [owner_copy], namespace)
            )
            other_packets = self._encode(event, [variants["other"]], namespace)
        skip = skip_sid if isinstance(skip_sid, list) else [skip_sid]
        users, held = self.socket_users, self._held
        synced, seq = self._synced_broadcast(room, data if variants is None else variants["other"])
        # Sequential awaits, not a task per socket as the library does: each send only puts a
        # prebuilt packet on the socket's queue, and task creation dominated the fan-out cost.
        for sid, eio_sid in self.get_participants(namespace, room):
            if sid in skip:
                continue
            if synced and synced.get(sid, _NOTHING).get(room, 0) >= seq:
                continue  # its sync covered this seq: a second copy for the client to drop
            chosen = (
                owner_packets
                if owner_id is not None and users.get(sid) == owner_id
                else (other_packets)
            )
            waiting = held.get((namespace, sid)) if held else None
            if waiting is not None:
                waiting.extend((eio_sid, pkt) for pkt in chosen)
                continue
            for pkt in chosen:
                await self._send_packet(sid, eio_sid, pkt)

    def _synced_broadcast(self, room: Any, payload: Any) -> tuple[dict[str, dict[str, int]], int]:
        """(sid → synced heads, seq) when `payload` is a durable event broadcast to its own
        stream's room and some socket here has synced; else ({}, 0): nothing to skip. Replays
        (addressed to one sid) and everything else pass untouched."""
        if not self._synced_through or not isinstance(room, str) or not isinstance(payload, dict):
            return {}, 0
        seq = payload.get("seq")
        if not isinstance(seq, int) or payload.get("stream") != room:
            return {}, 0
        return self._synced_through, seq


_NOTHING: dict[str, int] = {}


class SocketPublisher:
    """The EventPublisher the domain calls after commit (EVT-5): one logical emit per event."""

    def __init__(
        self,
        sio: socketio.AsyncServer,
        variants: EventVariants,
        on_emit: Callable[[str], None] | None = None,
    ) -> None:
        self._sio = sio
        self._variants = variants
        self._on_emit = on_emit

    @property
    def manager(self) -> RedactingManager:
        manager: RedactingManager = self._sio.manager
        return manager

    def payload_for_room(self, event: StoredEvent) -> dict[str, Any]:
        owner, other = self._variants(event)
        if other is None or event.owner_id is None:
            return owner
        return variants_marker(event.owner_id, owner, other)

    async def publish(self, events: Sequence[StoredEvent]) -> None:
        for event in events:
            await self.publish_one(event)

    async def publish_one(self, event: StoredEvent, *, once: bool = False) -> bool:
        """Emit one stored event to its stream; with `once`, only if nobody in the cluster has
        published it yet (False: someone had, nothing sent). PublishFailed: unknown."""
        payload = self.payload_for_room(event)
        once_key = event.event_id if once else None
        sent = await self.manager.publish_event(event.name, payload, event.stream, once_key)
        if sent and self._on_emit is not None:
            self._on_emit(event.name)
        return sent
