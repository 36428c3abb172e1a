"""The activity feed (COL-8): the caller's three streams' data events, newest first, redacted
for the caller exactly as they would have received them live (RED-1)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from harness.spec import ACTIVITY_PATH, ENTITY_TYPES

from ..domain.contracts import Actor
from ..realtime.acks import validation_error
from ..rest.app_state import authenticate, context_of
from ..store.base import RecordStore
from ..transport_ports import Redaction

__all__ = [
    "ACTIVITY_PATH",
    "DEFAULT_ACTIVITY_LIMIT",
    "MAX_ACTIVITY_LIMIT",
    "activity_feed",
    "router",
]

DEFAULT_ACTIVITY_LIMIT = 20
MAX_ACTIVITY_LIMIT = 100
# Data events only: notifications and AI task events share the user: stream.
_DATA_EVENT_PREFIXES = tuple(f"{t}:" for t in ENTITY_TYPES)

router = APIRouter()


def _limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_ACTIVITY_LIMIT
    try:
        value = int(raw, 10)
    except ValueError:
        raise validation_error("limit must be an integer", "limit") from None
    if not 1 <= value <= MAX_ACTIVITY_LIMIT:
        raise validation_error(f"limit must be 1 to {MAX_ACTIVITY_LIMIT}", "limit")
    return value


async def activity_feed(
    store: RecordStore, redaction: Redaction, actor: Actor, limit: int
) -> list[dict[str, Any]]:
    """The newest `limit` data events of the actor's streams, as the actor sees them."""
    events = await store.recent_events(actor.streams, limit, _DATA_EVENT_PREFIXES)
    return [redaction.event_for(actor.user_id, e) for e in events]


@router.get(ACTIVITY_PATH)
async def activity(request: Request) -> JSONResponse:
    actor = await authenticate(request)
    limit = _limit(request.query_params.get("limit"))
    ctx = context_of(request)
    return JSONResponse({"data": await activity_feed(ctx.store, ctx.redaction, actor, limit)})
