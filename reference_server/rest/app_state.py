"""What every route needs, hung on `app.state.ctx` by `build_app`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Request

from harness.spec import Profile

from ..auth import Verifier, token_from_header, verify_token
from ..config import ServerSettings
from ..domain.clock import Clock
from ..domain.contracts import Actor
from ..metrics import ServerMetrics
from ..state.base import ClusterState
from ..store.base import RecordStore
from ..transport_ports import Records, Redaction

__all__ = ["AppContext", "authenticate", "context_of"]


@dataclass(slots=True)
class AppContext:
    settings: ServerSettings
    store: RecordStore
    state: ClusterState
    records: Callable[[], Records]  # resolved on use: the service is built in the lifespan
    redaction: Redaction
    metrics: ServerMetrics
    clock: Clock
    profiles: tuple[Profile, ...]
    verifier: Verifier


def context_of(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


async def authenticate(request: Request) -> Actor:
    """REST calls carry `Authorization: Bearer` (AUTH-1); refusals are AuthError → 401."""
    ctx = context_of(request)
    token = token_from_header(request.headers.get("authorization"))
    return (await verify_token(token, ctx.verifier, ctx.clock.now())).actor
