"""The REST error envelope of every route of every service, whatever went wrong:
`{"success": false, "error": "<message>", "code": "<code>", "details"?}` (the model is
`contracts.rest.ErrorEnvelope`).

`envelope_route(mapping)` makes the route class a service's routers use: it wraps each
handler, so an `ApiError`, request validation (body, query, path, a body FastAPI cannot
read), a command model refusing what the request models let through and the errors of
the service's own `mapping` all answer the envelope with their status; anything else is
logged and answers 500 `internal` without details. A bad field is named the same way on
every route (`field_name`). The gate and the body limit answer the same envelope before
a route runs (`envelope_bytes`).
"""

import json
import logging
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import ValidationError
from starlette.exceptions import HTTPException

from contracts.enums import ErrorCode
from contracts.rest import ErrorEnvelope, FieldProblem

log = logging.getLogger(__name__)

Responder = Callable[[Any], Response]
ErrorMapping = Sequence[tuple[type[Exception], Responder]]
"""A service's own errors and how each answers; looked at before the common ones."""
LOCATIONS = frozenset({"body", "query", "path", "header"})
SUMMARY_LIMIT = 500


class ApiError(Exception):
    """A failure decided at the HTTP edge: its status, code and message as they are."""

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


def envelope_bytes(code: str, message: str) -> bytes:
    """The envelope as a raw ASGI body, for answers sent before any route runs."""
    return json.dumps({"success": False, "error": message, "code": code}).encode()


def field_name(location: Sequence[int | str]) -> str:
    """`limit`, `customer.phone`, `tags.0`; `body` for the whole body (also for JSON that
    does not parse, which pydantic locates at a character offset)."""
    parts = [str(part) for part in location]
    if parts[:1] == ["body"] and all(isinstance(part, int) for part in location[1:]):
        return "body"
    if len(parts) > 1 and parts[0] in LOCATIONS:
        parts = parts[1:]
    return ".".join(parts) or "body"


def problems(errors: Iterable[Mapping[str, Any]]) -> list[FieldProblem]:
    """One `{field, message}` per validation error, never echoing the (maybe huge) input."""
    return [
        FieldProblem(field=field_name(tuple(error.get("loc", ()))), message=str(error.get("msg")))
        for error in errors
    ]


def summary(found: Sequence[FieldProblem]) -> str:
    listed = "; ".join(f"{problem.field}: {problem.message}" for problem in found[:5])
    return f"Invalid request: {listed}"[:SUMMARY_LIMIT]


def invalid(found: list[FieldProblem]) -> JSONResponse:
    return failure(422, ErrorCode.VALIDATION, summary(found), details=found)


def _api(error: ApiError) -> Response:
    return failure(error.status, error.code, error.message, error.headers)


def _validation(error: RequestValidationError | ValidationError) -> Response:
    return invalid(problems(error.errors()))


def _http(error: HTTPException) -> Response:
    if error.status_code == 400:  # FastAPI could not read the body (not UTF-8, say)
        return invalid([FieldProblem(field="body", message=str(error.detail))])
    return failure(error.status_code, ErrorCode.VALIDATION, str(error.detail), error.headers)


COMMON: ErrorMapping = (
    (ApiError, _api),
    (RequestValidationError, _validation),
    (ValidationError, _validation),
    (HTTPException, _http),
)

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


def envelope_route(mapping: ErrorMapping = ()) -> type[APIRoute]:
    """The route class answering the envelope for every failure (see the module)."""
    responders = (*mapping, *COMMON)

    async def answer(handler: Handler, request: Request) -> Response:
        try:
            return await handler(request)
        except Exception as error:
            for kind, respond in responders:
                if isinstance(error, kind):
                    return respond(error)
            log.exception("request failed", extra={"path": request.url.path})
            return failure(500, ErrorCode.INTERNAL, "Internal error; the request was not applied")

    class EnvelopeRoute(APIRoute):
        def get_route_handler(self) -> Handler:
            handler = super().get_route_handler()

            async def enveloped(request: Request) -> Response:
                return await answer(handler, request)

            return enveloped

    return EnvelopeRoute
