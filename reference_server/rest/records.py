"""The five collections (REC-2..7): create, list, get, update, archive, restore, delete.

Refusal precedence is 401, 413, 404, 400, 423, 409 (§15): authenticate first, then the body
size, and header errors (400) wait until the record is known to exist (404).
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from harness.spec import API_PREFIX, COLLECTIONS, ErrorCode, Op

from ..domain.contracts import Actor, ChangeOutcome, ChangeRequest, DomainError
from ..realtime.acks import validation_error
from .app_state import authenticate, context_of
from .body_limit import body_too_large
from .if_match import IfMatchError, parse_if_match

__all__ = ["NotJsonObject", "router"]

router = APIRouter(prefix=API_PREFIX)

ENTITY_OF_COLLECTION: dict[str, str] = {c: t for t, c in COLLECTIONS.items()}
IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
_MAX_LIST_LIMIT = 200
# The largest offset the stores can take (SQLite INTEGER and PostgreSQL BIGINT are 64-bit):
# beyond it the driver overflowed into a 500 where the spec says VALIDATION_ERROR (REC-3).
_MAX_OFFSET = 2**63 - 1
_DEFAULT_LIST_LIMIT = 50


class NotJsonObject:
    """A body that is not JSON at all: the domain refuses it like any non-object body, after
    it has checked that the record exists (404 before 400)."""

    def __repr__(self) -> str:
        return "<not JSON>"


def _entity(collection: str) -> str:
    entity_type = ENTITY_OF_COLLECTION.get(collection)
    if entity_type is None:
        raise DomainError(ErrorCode.NOT_FOUND, "not found")
    return entity_type


async def _body(request: Request) -> Any:
    raw = await request.body()
    if body_too_large(request.scope):
        limit = context_of(request).settings.limits.maxPayloadBytes
        raise DomainError(ErrorCode.PAYLOAD_TOO_LARGE, "request body is over maxPayloadBytes",
                          {"maxPayloadBytes": limit})  # fmt: skip
    try:
        return json.loads(raw) if raw else NotJsonObject()
    except (ValueError, UnicodeDecodeError):
        return NotJsonObject()


async def _header_error_after_lookup(
    request: Request, actor: Actor, entity_type: str, record_id: str | None, error: DomainError
) -> DomainError:
    """A bad header answers 400, but a missing record answers 404 first (§15)."""
    if record_id is not None:
        await context_of(request).records().get(actor, entity_type, record_id)
    return error


async def _change(
    request: Request, op: Op, collection: str, record_id: str | None = None, with_body: bool = False
) -> Response:
    actor = await authenticate(request)
    ctx = context_of(request)
    body = await _body(request)  # read even when unused: an oversized body is still a 413
    entity_type = _entity(collection)  # 413 before 404 (§15)
    changes = body if with_body else None
    try:
        expected = parse_if_match(request.headers.get("if-match"))
    except IfMatchError as exc:
        raise await _header_error_after_lookup(
            request, actor, entity_type, record_id, validation_error(str(exc), "If-Match")
        ) from None
    key = request.headers.get(IDEMPOTENCY_HEADER)  # the domain checks its length (MUT-2)
    outcome = await ctx.records().change(
        actor,
        ChangeRequest(op=op, entity_type=entity_type, record_id=record_id, changes=changes,
                      expected_version=expected, idempotency_key=key, via="api"),
    )  # fmt: skip
    return _outcome_response(request, actor, entity_type, outcome)


def _outcome_response(
    request: Request, actor: Actor, entity_type: str, outcome: ChangeOutcome
) -> Response:
    headers = {REPLAYED_HEADER: "true"} if outcome.duplicate else None
    if outcome.status == 204 or outcome.record is None:
        return Response(status_code=204, headers=headers)
    status = 200 if outcome.duplicate else outcome.status
    data = context_of(request).redaction.record_for(actor.user_id, entity_type, outcome.record)
    return JSONResponse({"data": data}, status_code=status, headers=headers)


def _int_param(request: Request, name: str, default: int, low: int, high: int | None) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw, 10)
    except ValueError:
        raise validation_error(f"{name} must be an integer", name) from None
    if value < low or (high is not None and value > high):
        raise validation_error(f"{name} is out of range", name)
    return value


@router.get("/{collection}")
async def list_records(request: Request, collection: str) -> JSONResponse:
    actor = await authenticate(request)
    entity_type = _entity(collection)
    limit = _int_param(request, "limit", _DEFAULT_LIST_LIMIT, 1, _MAX_LIST_LIMIT)
    offset = _int_param(request, "offset", 0, 0, _MAX_OFFSET)
    archived_raw = request.query_params.get("includeArchived", "false")
    if archived_raw not in ("true", "false"):
        raise validation_error("includeArchived must be true or false", "includeArchived")
    ctx = context_of(request)
    records, total = await ctx.records().list(
        actor, entity_type, limit=limit, offset=offset, include_archived=archived_raw == "true"
    )
    data = [ctx.redaction.record_for(actor.user_id, entity_type, r) for r in records]
    return JSONResponse({"data": data, "total": total})


@router.get("/{collection}/{record_id}")
async def get_record(request: Request, collection: str, record_id: str) -> JSONResponse:
    actor = await authenticate(request)
    entity_type = _entity(collection)
    ctx = context_of(request)
    record = await ctx.records().get(actor, entity_type, record_id)
    return JSONResponse({"data": ctx.redaction.record_for(actor.user_id, entity_type, record)})


@router.post("/{collection}")
async def create_record(request: Request, collection: str) -> Response:
    return await _change(request, Op.CREATE, collection, with_body=True)


@router.patch("/{collection}/{record_id}")
async def update_record(request: Request, collection: str, record_id: str) -> Response:
    return await _change(request, Op.UPDATE, collection, record_id, with_body=True)


@router.post("/{collection}/{record_id}/archive")
async def archive_record(request: Request, collection: str, record_id: str) -> Response:
    return await _change(request, Op.ARCHIVE, collection, record_id)


@router.post("/{collection}/{record_id}/restore")
async def restore_record(request: Request, collection: str, record_id: str) -> Response:
    return await _change(request, Op.RESTORE, collection, record_id)


@router.delete("/{collection}/{record_id}")
async def delete_record(request: Request, collection: str, record_id: str) -> Response:
    return await _change(request, Op.DELETE, collection, record_id)
