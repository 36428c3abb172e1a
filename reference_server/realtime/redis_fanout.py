"""Socket.IO fan-out across the nodes of a cluster through Redis pub/sub (CLU-1, EVT-2, RED-3).

python-socketio's `AsyncRedisManager` publishes every emit on one channel; each node decodes
every message and delivers to its own sockets. Combined with `RedactingManager` (the MRO puts
it under `AsyncPubSubManager._handle_emit`'s `super().emit`), each node picks the owner's or the
redacted variant per local socket, so redaction stays per recipient and each socket gets one
copy whatever node published it.

The cost is known and measured (`benchmarks/bench_cluster.py`): every node decodes every emit,
including emits for rooms it has no sockets in. The counters here make that cost visible.

Two changes to the library's defaults: the channel carries the cluster's prefix, so clusters
(and tests) sharing one Redis never hear each other; and the listener retries a lost Redis
every second at most (the library doubles its wait up to 60 s), so a node recovers quickly
after Redis restarts — what was lost live meanwhile comes back through `sync` (STR-5).

One addition: `publish_event` with a `once_key` publishes through one Lua script that first
records the key in a sorted set (`ZADD NX`, scored by time) and publishes only if it was new.
Whoever tries first — the node that committed the event, or the outbox relay of another node
after a crash (`realtime.outbox`) — publishes it; every later try is a no-op. Every node, the
publisher included, delivers such an event to its sockets from the channel (its host id is one
no node has), so each node delivers it once whoever published it — also when a try timed out
after Redis had published it, and the retry was told it was published already.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import socketio

from .fanout import PublishFailed, RedactingManager

__all__ = [
    "FanoutStats",
    "RedisFanoutManager",
    "fanout_channel",
    "published_key",
    "start_listening",
]

_RETRY_SECONDS = 1.0
_PROBE_MESSAGE = "crm-fanout-probe"
_FORGET_CHUNK = 500

# The host id of once-only publications: no node has it, so every node (the publisher too)
# delivers them from the channel; `origin` says which node published.
_EVERY_NODE = "every-node"

# KEYS: published set, channel. ARGV: once key, now (ms), message.
# Returns -1 when the key was published before (nothing sent), else PUBLISH's receiver count.
_PUBLISH_ONCE = """
if redis.call('ZADD', KEYS[1], 'NX', ARGV[2], ARGV[1]) == 0 then return -1 end
return redis.call('PUBLISH', KEYS[2], ARGV[3])
"""


def fanout_channel(prefix: str) -> str:
    """The pub/sub channel of the cluster whose Redis keys start with `prefix`."""
    return f"{prefix}socketio"


def published_key(prefix: str) -> str:
    """The sorted set of once-only publications (event ids, scored by epoch ms)."""
    return f"{prefix}outbox:published"


@dataclass(slots=True)
class FanoutStats:
    """What this node spent on other nodes' emits (the pub/sub listener)."""

    remote_messages: int = 0
    remote_seconds: float = 0.0
    published: int = 0
    publish_failures: int = 0
    published_already: int = 0  # once-only publications someone else had made

    def to_json(self) -> dict[str, Any]:
        return {
            "remoteMessages": self.remote_messages,
            "remoteSeconds": round(self.remote_seconds, 6),
            "published": self.published,
            "publishFailures": self.publish_failures,
            "publishedAlready": self.published_already,
        }


class RedisFanoutManager(socketio.AsyncRedisManager, RedactingManager):
    def __init__(
        self,
        url: str,
        *,
        prefix: str,
        connect_timeout_seconds: float = 1.0,
        publish_timeout_seconds: float = 2.0,
        probe_seconds: float = 2.0,
        dead_after_seconds: float = 7.0,
    ) -> None:
        super().__init__(
            url,
            channel=fanout_channel(prefix),
            redis_options={
                "socket_connect_timeout": connect_timeout_seconds,
                "health_check_interval": 5,
            },
        )
        self.publish_timeout_seconds = publish_timeout_seconds
        self.probe_seconds = probe_seconds  # a quiet channel is probed this often
        self.dead_after_seconds = dead_after_seconds  # silence that means a dead connection
        self.stats = FanoutStats()
        self.subscribed = asyncio.Event()
        self.published_key = published_key(prefix)
        self._publish_once: Any = None  # the script, bound to the current connection

    async def _publish(self, data: Any) -> Any:
        """Bounded: a black-holed Redis must not hang the request that emitted (the event is
        stored already; other nodes' sockets get it by `sync`)."""
        self.stats.published += 1
        result = None
        try:
            async with asyncio.timeout(self.publish_timeout_seconds):
                result = await super()._publish(data)
        except TimeoutError:
            self.connected = False  # the next publish dials a fresh connection
            self._get_logger().warning("fan-out: publish to Redis timed out")
        if result is None:  # the library logs and gives up after two attempts
            self.stats.publish_failures += 1
        return result

    # -- durable events: published at most once across the cluster ----------------------------
    async def publish_event(
        self, event: str, data: Any, room: str, once_key: str | None = None
    ) -> bool:
        if once_key is None:
            return await super().publish_event(event, data, room)
        # The message AsyncPubSubManager.emit builds for a JSON payload without callback.
        message = {"method": "emit", "event": event, "data": [data], "binary": False,
                   "namespace": "/", "room": room, "skip_sid": None, "callback": None,
                   "host_id": _EVERY_NODE, "origin": self.host_id}  # fmt: skip
        encoded = self.json.dumps(message)
        answer = await self._redis_call(
            lambda: self._publish_once_script()(
                keys=[self.published_key, self.channel],
                args=[once_key, int(time.time() * 1000), encoded],
                client=self.redis,
            )
        )
        self.stats.published += 1
        if int(answer) < 0:
            self.stats.published_already += 1
            return False
        return True

    async def forget_published(self, once_keys: Sequence[str]) -> None:
        keys = list(once_keys)
        for start in range(0, len(keys), _FORGET_CHUNK):
            chunk = keys[start : start + _FORGET_CHUNK]
            await self._redis_call(lambda chunk=chunk: self.redis.zrem(self.published_key, *chunk))

    async def trim_published(self, older_than: float) -> None:
        cutoff = int(older_than * 1000)
        await self._redis_call(
            lambda: self.redis.zremrangebyscore(self.published_key, "-inf", f"({cutoff}")
        )

    def _publish_once_script(self) -> Any:
        if self._publish_once is None or self._publish_once.registered_client is not self.redis:
            self._publish_once = self.redis.register_script(_PUBLISH_ONCE)
        return self._publish_once

    async def _redis_call(self, command: Any) -> Any:
        """`command()` on this manager's connection, bounded and tried twice like the library's
        publish (safe for once-only publications: a second try cannot publish twice)."""
        for attempt in range(2):
            try:
                if not self.connected:
                    self._redis_connect()
                async with asyncio.timeout(self.publish_timeout_seconds):
                    return await command()
            except Exception as exc:
                self.connected = False  # the next try dials a fresh connection
                if attempt == 1:
                    self.stats.publish_failures += 1
                    raise PublishFailed(f"Redis did not answer: {exc!r}") from exc
        raise AssertionError("unreachable")

    async def _handle_emit(self, message: Any) -> None:
        if message.get("origin", message.get("host_id")) == self.host_id:
            await super()._handle_emit(message)
            return
        started = time.perf_counter()
        try:
            await super()._handle_emit(message)
        finally:
            self.stats.remote_messages += 1
            self.stats.remote_seconds += time.perf_counter() - started

    def _redis_connect(self) -> None:
        """A publish-side redial (after a failed publish) gets a fresh client but keeps the
        listener's subscription. The library's version replaces `pubsub` too, and the listener,
        which reads `self.pubsub` on every turn, would then read an unsubscribed one and hear
        no other node until its probes noticed the silence (`dead_after_seconds`)."""
        listening = getattr(self, "pubsub", None)
        super()._redis_connect()
        if listening is not None:
            self.pubsub = listening

    def _dial_listener(self) -> None:
        """A fresh client and a fresh subscription, for the listener alone."""
        super()._redis_connect()

    async def _redis_listen_with_retries(self) -> AsyncIterator[Any]:  # pragma: no cover
        subscribed = False
        while True:
            try:
                if not subscribed:
                    self._dial_listener()
                    await self.pubsub.subscribe(self.channel)
                    subscribed = True
                    self.subscribed.set()
                async for message in self._listen_probed():
                    yield message
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.subscribed.clear()
                self._get_logger().warning(
                    "fan-out: lost Redis (%s), retrying in %.0f s", exc, _RETRY_SECONDS
                )
                subscribed = False
                await asyncio.sleep(_RETRY_SECONDS)

    async def _listen_probed(self) -> AsyncIterator[Any]:
        """The subscription's messages; raises when the connection stops answering.

        A pub/sub connection only reads, so one that died silently (the server forgot it, a
        middlebox dropped it) would block forever and this node would never hear the others
        again. When the channel is quiet it pings; no message and no pong for a while means
        the connection is dead, and the caller dials again.
        """
        last_heard = time.monotonic()
        while True:
            message = await self.pubsub.get_message(timeout=self.probe_seconds)
            now = time.monotonic()
            if message is not None:
                last_heard = now
                if message.get("type") != "pong":
                    yield message
                continue
            if now - last_heard > self.dead_after_seconds:
                raise ConnectionError(
                    f"no answer on the pub/sub connection for {now - last_heard:.0f} s"
                )
            await self.pubsub.ping(_PROBE_MESSAGE)


async def start_listening(sio: socketio.AsyncServer, timeout_seconds: float = 3.0) -> bool:
    """Start the pub/sub listener now rather than at the first connection.

    python-socketio starts it lazily, so a node's first socket could miss what is published
    while it subscribes. True when subscribed within the timeout (False: Redis is down; the
    listener keeps retrying on its own).
    """
    manager = sio.manager
    if not sio.manager_initialized:
        sio.manager_initialized = True
        manager.initialize()
    if not isinstance(manager, RedisFanoutManager):
        return True
    try:
        await asyncio.wait_for(manager.subscribed.wait(), timeout_seconds)
    except TimeoutError:
        return False
    return True
