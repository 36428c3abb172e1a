"""`JwksVerifier`: RS256/ES256 keys from an identity provider's JWKS URL (SPEC §3).

The set is fetched once before the node serves (it decides the advertised algorithm), then
kept. A token naming a `kid` the set lacks triggers one refetch (the provider rotated its
keys); refetches are at most one per `refresh_interval_s`, however many such tokens arrive,
so a flood of made-up kids cannot turn the node into a JWKS hammer. A set older than
`max_age_s` is refetched in the background, so that a key the provider withdrew stops
verifying. A failed refetch keeps the keys already held.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import httpx

from ..exceptions import StartupError
from .keys import KeySet, key_set_from_jwks

__all__ = ["DEFAULT_JWKS_MAX_AGE_S", "DEFAULT_JWKS_REFRESH_S", "JwksVerifier"]

log = logging.getLogger(__name__)

DEFAULT_JWKS_REFRESH_S = 10.0
DEFAULT_JWKS_MAX_AGE_S = 600.0
_FETCH_TIMEOUT_S = 5.0


class JwksVerifier:
    def __init__(
        self,
        url: str,
        *,
        refresh_interval_s: float = DEFAULT_JWKS_REFRESH_S,
        max_age_s: float = DEFAULT_JWKS_MAX_AGE_S,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self._refresh_interval_s = refresh_interval_s
        self._max_age_s = max_age_s
        self._transport = transport
        self._clock = clock
        self._set: KeySet | None = None
        self._fetched_at = 0.0
        self._attempted_at = float("-inf")
        self._inflight: asyncio.Task[bool] | None = None
        self._http: httpx.AsyncClient | None = None
        self.fetches = 0  # how many times the URL was asked (tests, logs)

    @property
    def algorithm(self) -> str:
        if self._set is None:
            raise RuntimeError("JwksVerifier.open() was not awaited")
        return self._set.algorithm

    async def open(self) -> None:
        """First fetch; StartupError in one line when the JWKS cannot be had or used."""
        if self._set is not None:
            return
        try:
            self._set = key_set_from_jwks(await self._fetch(), where=f"the JWKS at {self.url}")
        except (httpx.HTTPError, ValueError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise StartupError(f"cannot use the JWKS at {self.url}: {reason}") from None
        self._fetched_at = self._attempted_at = self._clock()

    async def close(self) -> None:
        if self._inflight is not None:
            self._inflight.cancel()
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    def key_for(self, kid: str | None) -> Any:
        key_set = self._set
        if key_set is None:
            raise RuntimeError("JwksVerifier.open() was not awaited")
        if self._clock() - self._fetched_at > self._max_age_s:
            self._refresh_in_background()
        return key_set.key_for(kid)

    async def refresh(self) -> bool:
        """One refetch shared by every caller waiting now; False when the rate limit says
        not yet, or the fetch failed (the keys held stay)."""
        if self._inflight is None:
            if self._clock() - self._attempted_at < self._refresh_interval_s:
                return False
            self._attempted_at = self._clock()
            self._inflight = asyncio.create_task(self._refetch())
        task = self._inflight
        try:
            return await asyncio.shield(task)
        finally:
            if task.done() and self._inflight is task:
                self._inflight = None

    def _refresh_in_background(self) -> None:
        if (
            self._inflight is None
            and self._clock() - self._attempted_at >= self._refresh_interval_s
        ):
            task = asyncio.ensure_future(self.refresh())
            task.add_done_callback(lambda t: t.cancelled() or t.exception())

    async def _refetch(self) -> bool:
        assert self._set is not None
        try:
            fresh = key_set_from_jwks(
                await self._fetch(), self._set.algorithm, where=f"the JWKS at {self.url}"
            )
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("JWKS refresh from %s failed, keeping the keys held: %s", self.url, exc)
            return False
        self._set = fresh
        self._fetched_at = self._clock()
        return True

    async def _fetch(self) -> Any:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=_FETCH_TIMEOUT_S, transport=self._transport)
        self.fetches += 1
        response = await self._http.get(self.url)
        response.raise_for_status()
        return response.json()
