"""The ticket API's error mapping for the shared envelope route (`infra.rest`): a typed
domain error answers its code with the matching status (a rate limit with `Retry-After`)."""

import logging
from typing import Any

from fastapi import Response

from contracts.enums import ErrorCode
from contracts.rest import ErrorEnvelope
from infra.rest import envelope_route, failure
from services.ticket_service.domain.errors import DomainError, RateLimited

log = logging.getLogger(__name__)

STATUS_BY_CODE: dict[str, int] = {
    ErrorCode.VALIDATION: 400,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.INVALID_TRANSITION: 409,
    ErrorCode.CONFLICT: 409,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.INTERNAL: 500,
}


def _domain(error: DomainError) -> Response:
    log.info("request refused", extra={"code": error.code, "reason": error.message})
    headers = (
        {"Retry-After": str(error.retry_after_seconds)} if isinstance(error, RateLimited) else {}
    )
    return failure(STATUS_BY_CODE.get(error.code, 400), error.code, error.message, headers)


EnvelopeRoute = envelope_route([(DomainError, _domain)])

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorEnvelope, "description": description}
    for status, description in (
        (401, "Missing, invalid or expired token, unknown API key, or an inactive agent"),
        (404, "No such ticket, or one the caller may not see"),
        (422, "Invalid body, query or path; the message names the fields"),
        (429, "Over a rate limit; `Retry-After` says how many seconds to wait"),
    )
}
