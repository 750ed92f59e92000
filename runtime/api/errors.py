"""One error body for every failure: ``{"error": {"code": "<string>", "message": "..."}}``."""

from __future__ import annotations

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from runtime.errors import HangarError, QuotaExceeded
from runtime.wire import describe_errors

log = structlog.get_logger(__name__)

_HTTP_CODES = {400: "invalid_argument", 401: "unauthenticated", 404: "not_found", 405: "method_not_allowed"}


def error_response(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


async def _hangar_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HangarError)
    response = error_response(exc.http_status, exc.code, exc.message)
    if isinstance(exc, QuotaExceeded):
        response.headers["retry-after"] = str(max(1, round(exc.retry_after)))
    return response


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return error_response(400, "invalid_argument", describe_errors(list(exc.errors())) or "invalid request")


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    return error_response(exc.status_code, code, str(exc.detail))


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("api.unhandled", path=request.url.path, exc_info=exc)
    return error_response(500, "internal", "internal server error")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(HangarError, _hangar_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)


__all__ = ["error_response", "install_error_handlers"]
