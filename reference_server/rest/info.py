"""Discovery, health and metrics (INF-1, INF-3, MET-1): no auth."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from harness.spec import HEALTH_PATH, INFO_PATH, METRICS_PATH, SENSITIVE_FIELDS, SPEC_VERSION

from .. import __version__
from .app_state import context_of

__all__ = ["router"]

router = APIRouter()


@router.get(INFO_PATH)
async def info(request: Request) -> dict[str, Any]:
    ctx = context_of(request)
    s = ctx.settings
    return {
        "specVersion": SPEC_VERSION,
        "server": f"{s.server_name}/{__version__}",
        "node": s.node_name,
        "profiles": [p.value for p in ctx.profiles],
        "heartbeat": s.heartbeat.to_json(),
        "limits": s.limits.to_json(),
        "sensitiveFields": {t: list(f) for t, f in SENSITIVE_FIELDS.items()},
        "auth": {"algorithms": [ctx.verifier.algorithm]},
    }


@router.get(HEALTH_PATH)
async def healthz(request: Request) -> JSONResponse:
    ctx = context_of(request)
    try:
        healthy = await ctx.store.ping() and await ctx.state.ping()
    except Exception:  # a backend that throws is as unhealthy as one that says no
        healthy = False
    if healthy:
        return JSONResponse({"status": "ok"})
    return JSONResponse({"status": "unavailable"}, status_code=503)


@router.get(METRICS_PATH)
async def metrics(request: Request) -> Response:
    from ..metrics import CONTENT_TYPE_LATEST

    return Response(context_of(request).metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
