"""Background upkeep a server runs beside its transports: forgetting expired idempotency keys.

A key counts for `idempotencyTtlSeconds` (MUT-2); after that it is dead weight in the store.
`KeyPurger` purges now and then on its own task; wire it into the app's lifespan:

    purger = KeyPurger(service)      # after the store is open
    purger.start()
    ...
    await purger.stop()              # before the store closes
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from .._tasks import stop_task
from ..store.base import StoreUnavailable

__all__ = ["DEFAULT_PURGE_INTERVAL_SECONDS", "KeyPurger", "PurgesKeys"]

DEFAULT_PURGE_INTERVAL_SECONDS = 600.0

_log = logging.getLogger(__name__)


class PurgesKeys(Protocol):
    """`RecordService` fits."""

    async def purge_expired_keys(self) -> int: ...


class KeyPurger:
    """Calls `purge_expired_keys` every `interval_seconds`, first one interval after start."""

    def __init__(
        self, service: PurgesKeys, interval_seconds: float = DEFAULT_PURGE_INTERVAL_SECONDS
    ) -> None:
        if interval_seconds <= 0:
            raise ValueError("interval_seconds must be positive")
        self.service = service
        self.interval_seconds = interval_seconds
        self.purged_total = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="idempotency-key-purger")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await stop_task(task)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_seconds)
            try:
                self.purged_total += await self.service.purge_expired_keys()
            except StoreUnavailable as exc:
                # The store is down for everyone; /healthz says so. Try again next time.
                _log.warning("purging idempotency keys failed: %s", exc)
