"""Every REST refusal is `{"error": {code, message, details?}}` (REC-7); FastAPI's own 422 and
Starlette's 404/405 are mapped onto the spec's shapes so nothing framework-shaped leaks."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from harness.spec import HTTP_STATUS, ErrorCode

from ..auth import AuthError
from ..domain.contracts import DomainError
from ..store.base import StoreUnavailable

__all__ = ["error_response", "install_error_handlers"]

log = logging.getLogger(__name__)


def error_response(error: DomainError, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": error.to_json()}, status_code=error.http_status, headers=headers)


async def _domain_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    return error_response(exc)


async def _auth_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AuthError)
    return JSONResponse(
        {"error": exc.to_json()},
        status_code=HTTP_STATUS[exc.code],
        headers={"WWW-Authenticate": "Bearer"},
    )


async def _request_validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    field = str(errors[0]["loc"][-1]) if errors and errors[0].get("loc") else None
    details = {"field": field} if field else None
    return error_response(DomainError(ErrorCode.VALIDATION_ERROR, "invalid request", details))


async def _http_exception(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    # Unknown paths and methods: the spec knows only NOT_FOUND for "no such thing".
    if exc.status_code in (404, 405):
        return error_response(DomainError(ErrorCode.NOT_FOUND, "not found"))
    code = ErrorCode.VALIDATION_ERROR if exc.status_code < 500 else ErrorCode.INTERNAL
    return JSONResponse(
        {"error": {"code": code.value, "message": str(exc.detail)}}, status_code=exc.status_code
    )


async def _store_unavailable(_: Request, exc: Exception) -> JSONResponse:
    log.warning("store unavailable: %s", exc)
    return JSONResponse(
        {"error": {"code": ErrorCode.INTERNAL.value, "message": "storage unavailable"}},
        status_code=503,
    )


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    return error_response(DomainError(ErrorCode.INTERNAL, "internal error"))


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(AuthError, _auth_error)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(StarletteHTTPException, _http_exception)
    app.add_exception_handler(StoreUnavailable, _store_unavailable)
    app.add_exception_handler(Exception, _unexpected)
