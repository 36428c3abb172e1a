"""A node must not accept changes while its cluster state is unreachable (INF-3, CLU-1).

Most changes consult the cluster state anyway (edit locks, COL-5), but a create does not: a
node cut from Redis would store it and then fail to fan it out, so sockets on other nodes
would miss it until their next sync. `StateGuardedStore` refuses every transaction while the
state's last contact with its backend failed — a flag the heartbeat keeps fresh, so the check
costs no round trip — with the same `StoreUnavailable` the transports already answer with
503 / `INTERNAL`. Reads pass through: a node cut from Redis still serves what it stores.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, cast

from ..store.base import RecordStore, StoreUnavailable, UnitOfWork

__all__ = ["StateGuardedStore", "guard_store"]

UNAVAILABLE_MESSAGE = "cluster state backend (Redis) unavailable: changes are refused"


class StateGuardedStore:
    """Delegates everything to `store`; `transaction()` first asks `state_available()`."""

    def __init__(self, store: RecordStore, state_available: Callable[[], bool]) -> None:
        self._store = store
        self._state_available = state_available

    def transaction(self) -> AbstractAsyncContextManager[UnitOfWork]:
        if not self._state_available():
            raise StoreUnavailable(UNAVAILABLE_MESSAGE)
        return self._store.transaction()

    def __getattr__(self, name: str) -> Any:
        # Everything else is the store's own: the RecordStore seam grows, this need not.
        return getattr(self._store, name)


def guard_store(store: RecordStore, state_available: Callable[[], bool]) -> RecordStore:
    return cast(RecordStore, StateGuardedStore(store, state_available))
