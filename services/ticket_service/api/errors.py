"""The customer's error envelope for every REST route, whatever went wrong.

`EnvelopeRoute` wraps each route's handler, so typed domain errors, request validation
(body, query, path, malformed JSON), authentication failures and rate limits all answer
`{"success": false, "error": "<message>", "code": "<code>"}` with the matching status;
an unexpected exception is logged and answers 500 without details.
"""

import logging
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import ValidationError
from starlette.exceptions import HTTPException

from contracts.enums import ErrorCode
from contracts.rest import ErrorEnvelope, FieldProblem
from services.ticket_service.domain.errors import DomainError, RateLimited

log = logging.getLogger(__name__)

__all__ = ["ErrorEnvelope", "FieldProblem"]

STATUS_BY_CODE: dict[str, int] = {
    ErrorCode.VALIDATION: 400,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.INVALID_TRANSITION: 409,
    ErrorCode.CONFLICT: 409,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.INTERNAL: 500,
}
UNAUTHORIZED = "unauthorized"
_LOCATIONS = frozenset({"body", "query", "path", "header"})


class ApiError(Exception):
    """A failure decided at the HTTP edge (authentication, per-token limits)."""

    def __init__(
        self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = dict(headers or {})


def failure(
    status: int,
    code: str,
    message: str,
    headers: Mapping[str, str] | None = None,
    details: list[FieldProblem] | None = None,
) -> JSONResponse:
    body = ErrorEnvelope(error=message, code=code, details=details)
    return JSONResponse(body.model_dump(exclude_none=True), status, headers=dict(headers or {}))


def rate_limited(message: str, retry_after_seconds: int) -> ApiError:
    return ApiError(429, ErrorCode.RATE_LIMITED, message, {"Retry-After": str(retry_after_seconds)})


def _field(location: Sequence[int | str]) -> str:
    parts = [str(p) for p in location]
    if len(parts) > 1 and parts[0] in _LOCATIONS:
        parts = parts[1:]
    if location and location[0] == "body" and all(isinstance(p, int) for p in location[1:]):
        return "body"
    return ".".join(parts) or "body"


def _validation(error: RequestValidationError) -> JSONResponse:
    problems = [FieldProblem(field=_field(e["loc"]), message=e["msg"]) for e in error.errors()]
    summary = "; ".join(f"{p.field}: {p.message}" for p in problems[:5])
    return failure(422, ErrorCode.VALIDATION, f"Invalid request: {summary}", details=problems)


def _domain(error: DomainError) -> JSONResponse:
    log.info("request refused", extra={"code": error.code, "reason": error.message})
    headers = (
        {"Retry-After": str(error.retry_after_seconds)} if isinstance(error, RateLimited) else {}
    )
    return failure(STATUS_BY_CODE.get(error.code, 400), error.code, error.message, headers)


def _api(error: ApiError) -> JSONResponse:
    return failure(error.status, error.code, error.message, error.headers)


def _http(error: HTTPException) -> JSONResponse:
    if error.status_code == 400:  # FastAPI could not read the body (not UTF-8, say)
        problem = FieldProblem(field="body", message=str(error.detail))
        message = f"Invalid request: body: {problem.message}"
        return failure(422, ErrorCode.VALIDATION, message, error.headers, [problem])
    return failure(error.status_code, ErrorCode.VALIDATION, str(error.detail), error.headers)


def _model(error: ValidationError) -> JSONResponse:
    """A command refusing what the request models let through."""
    return _validation(RequestValidationError(error.errors(include_url=False)))


_RESPONDERS: list[tuple[type[Exception], Callable[[Any], JSONResponse]]] = [
    (ApiError, _api),
    (DomainError, _domain),
    (RequestValidationError, _validation),
    (ValidationError, _model),
    (HTTPException, _http),
]


async def _answer(
    handler: Callable[[Request], Coroutine[Any, Any, Response]], request: Request
) -> Response:
    try:
        return await handler(request)
    except Exception as error:  # every failure answers with the envelope
        for kind, respond in _RESPONDERS:
            if isinstance(error, kind):
                return respond(error)
        log.exception("request failed", extra={"path": request.url.path})
        return failure(500, ErrorCode.INTERNAL, "Internal error; the request was not applied")


class EnvelopeRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def enveloped(request: Request) -> Response:
            return await _answer(handler, request)

        return enveloped


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorEnvelope, "description": description}
    for status, description in (
        (401, "Missing, invalid or expired token, unknown API key, or an inactive agent"),
        (404, "No such ticket, or one the caller may not see"),
        (422, "Invalid body, query or path; the message names the fields"),
        (429, "Over a rate limit; `Retry-After` says how many seconds to wait"),
    )
}
