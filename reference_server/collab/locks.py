"""Editing locks (COL-4) and what ends them: stop, expiry, the holder going offline, deletion.

The lock itself is `ClusterState`'s (a TTL lease the domain consults for COL-5). What the
state cannot tell is *why* a lock vanished, so each holder's locks are also listed in a
cluster-wide set: stop, offline and deletion take the key out of the set as they emit
`stopped`; a timer at the expiry that still finds the key there (and no refresh) emits
`expired`. The node that granted or last refreshed a lock runs its timer.
"""

from __future__ import annotations

import asyncio
from typing import Any

from harness.spec import ENTITY_TYPES, ErrorCode, ServerEvent

from ..domain.clock import iso_from_epoch
from ..domain.contracts import Actor, DomainError
from ..realtime.acks import Ack, ack_ok
from ..realtime.session import SocketSession
from ..state.base import EditLock
from .cluster_keys import UserKeySet
from .shared import CollabContext, RecordRef, record_ref, room_of

__all__ = ["LockService", "lock_json", "ref_of_key"]

_TIMER_SLACK_SECONDS = 0.05  # fire just after the state's own expiry


def lock_json(lock: EditLock) -> dict[str, Any]:
    return {"userId": lock.user_id, "name": lock.name, "expiresAt": iso_from_epoch(lock.expires_at)}


def ref_of_key(key: str) -> RecordRef | None:
    """The record a ClusterState record key (`RecordRef.key`) names; None for other keys."""
    entity_type, _, entity_id = key.partition(":")
    return RecordRef(entity_type, entity_id) if entity_type in ENTITY_TYPES and entity_id else None


class LockService:
    def __init__(self, ctx: CollabContext) -> None:
        self.ctx = ctx
        self.held = UserKeySet(ctx.state, "locks")
        # (record key, holder) -> this node's expiry timer; per holder, so that a new holder
        # taking an expired lock does not cancel the timer that announces the old expiry.
        self._timers: dict[tuple[str, str], asyncio.Task[None]] = {}

    async def _emit(self, ref: RecordRef, user_id: str, name: str, state: str,
                    expires_at: float | None = None) -> None:  # fmt: skip
        payload: dict[str, Any] = {**ref.wire(), "userId": user_id, "name": name, "state": state}
        if expires_at is not None:
            payload["expiresAt"] = iso_from_epoch(expires_at)
        await self.ctx.emit(ServerEvent.EDITING, payload, room_of(ref.key))

    # -- client events ------------------------------------------------------------------------
    async def start(self, session: SocketSession, payload: Any) -> Ack:
        ref = record_ref(payload)
        actor = session.actor
        await self.ctx.check_visible(actor, ref)
        current = await self.ctx.state.get_lock(ref.key)
        refresh = current is not None and current.user_id == actor.user_id
        ttl = float(self.ctx.limits.editLockTtlSeconds)
        taken, lock = await self.ctx.state.acquire_lock(ref.key, actor.user_id, actor.name, ttl)
        if not taken:
            raise DomainError(ErrorCode.LOCKED, f"{lock.name} is editing this record",
                              lock_json(lock))  # fmt: skip
        await self.held.add(actor.user_id, ref.key)
        self._schedule_expiry(ref, lock)
        if not refresh:  # a refresh emits nothing (§15)
            await self._emit(ref, actor.user_id, actor.name, "started", lock.expires_at)
        return ack_ok(lock=lock_json(lock))

    async def stop(self, session: SocketSession, payload: Any) -> Ack:
        ref = record_ref(payload)
        actor = session.actor
        await self.ctx.check_visible(actor, ref)
        current = await self.ctx.state.get_lock(ref.key)
        if current is not None and current.user_id != actor.user_id:
            raise DomainError(ErrorCode.LOCKED, f"{current.name} is editing this record",
                              lock_json(current))  # fmt: skip
        if current is not None:
            await self.release(ref, actor.user_id, actor.name)
        return ack_ok()

    # -- endings ------------------------------------------------------------------------------
    async def release(self, ref: RecordRef, user_id: str, name: str) -> bool:
        """Release `user_id`'s lock with `stopped`; False when they held none."""
        released = await self.ctx.state.release_lock(ref.key, user_id)
        await self.held.discard(user_id, ref.key)
        timer = self._timers.pop((ref.key, user_id), None) if released else None
        if timer is not None:
            timer.cancel()
        if released:
            await self._emit(ref, user_id, name, "stopped")
        return released

    async def release_all(self, actor: Actor) -> None:
        """The holder went offline (after the grace period): every lock they hold stops."""
        for key in await self.held.members(actor.user_id):
            ref = ref_of_key(key)
            if ref is not None:
                await self.release(ref, actor.user_id, actor.name)

    async def adopt(self, user_id: str, name: str, keys: list[str]) -> None:
        """Take over the locks a crashed node granted: its bookkeeping and its expiry timers.

        A lock that lapsed while nobody watched gets the `expired` the dead node owed.
        """
        for key in keys:
            ref = ref_of_key(key)
            if ref is None:
                continue
            lock = await self.ctx.state.get_lock(key)
            if lock is not None and lock.user_id == user_id:
                await self.held.add(user_id, key)
                self._schedule_expiry(ref, lock)
            else:
                await self._emit(ref, user_id, name, "expired")

    async def record_deleted(self, entity_type: str, record_id: str) -> None:
        ref = RecordRef(entity_type, record_id)
        lock = await self.ctx.state.get_lock(ref.key)
        if lock is not None:
            await self.release(ref, lock.user_id, lock.name)

    def _schedule_expiry(self, ref: RecordRef, lock: EditLock) -> None:
        """One timer per lock on this node: a refresh replaces it rather than adding one."""
        slot = (ref.key, lock.user_id)
        previous = self._timers.pop(slot, None)
        if previous is not None:
            previous.cancel()
        self._timers[slot] = self.ctx.spawn(self._expire_after(ref, lock), "edit lock expiry")

    async def _expire_after(self, ref: RecordRef, granted: EditLock) -> None:
        remaining = granted.expires_at - self.ctx.clock.now()
        await asyncio.sleep(max(0.0, remaining) + _TIMER_SLACK_SECONDS)
        current = await self.ctx.state.get_lock(ref.key)
        if (
            current is not None
            and current.user_id == granted.user_id
            and (current.expires_at > granted.expires_at)
        ):
            return  # refreshed: the refresh scheduled its own timer
        slot = (ref.key, granted.user_id)
        if self._timers.get(slot) is asyncio.current_task():
            del self._timers[slot]
        if await self.held.discard(granted.user_id, ref.key):
            await self._emit(ref, granted.user_id, granted.name, "expired")
