"""The activity feed (COL-8): the caller's three streams' data events, newest first, redacted
for the caller exactly as they would have received them live (RED-1)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from harness.spec import API_PREFIX, ENTITY_TYPES

from ..realtime.acks import validation_error
from ..rest.context import authenticate, context_of

__all__ = ["ACTIVITY_PATH", "DEFAULT_ACTIVITY_LIMIT", "MAX_ACTIVITY_LIMIT", "router"]

ACTIVITY_PATH = f"{API_PREFIX}/activity"
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


@router.get(ACTIVITY_PATH)
async def activity(request: Request) -> JSONResponse:
    actor = authenticate(request)
    limit = _limit(request.query_params.get("limit"))
    ctx = context_of(request)
    events = await ctx.store.recent_events(actor.streams, limit, _DATA_EVENT_PREFIXES)
    return JSONResponse({"data": [ctx.redaction.event_for(actor.user_id, e) for e in events]})
