"""`GET /api/v2/tickets/{ticketId}/sla`: each SLA clock explained (bearer auth).

An agent sees the tickets the access rules let them see (own + unassigned pool, admins
all); a service with a valid `X-API-Key` sees all. Anything else is 401, and a ticket
the caller may not see is 404, so its existence is never revealed.
"""

import re
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Header
from fastapi.responses import JSONResponse

from contracts.actors import AgentActor
from contracts.enums import ErrorCode
from infra.auth import InvalidToken, bearer_token, valid_api_key, verify_token
from infra.settings import Settings
from services.ticket_service.access import SYSTEM, Principal
from services.ticket_service.domain.errors import DomainError
from services.ticket_service.sla_usecases import explain_sla
from services.ticket_service.usecases import TicketUseCases

_TICKET_ID = re.compile(r"^TICKET-\d{4}-\d{6,}$")
_STATUS = {
    ErrorCode.VALIDATION: 400,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.CONFLICT: 409,
}


def _failure(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"success": False, "error": message, "code": code}, status_code=status)


async def _principal(
    use_cases: TicketUseCases, settings: Settings, authorization: str | None, api_key: str | None
) -> Principal:
    if api_key is not None and valid_api_key(settings, api_key):
        return SYSTEM
    claims = verify_token(settings, bearer_token(authorization), use_cases.clock.now())
    return await use_cases.principal(AgentActor(id=claims.sub))


def build_sla_router(
    use_cases: Callable[[], TicketUseCases], settings: Callable[[], Settings]
) -> APIRouter:
    """Both callables are resolved per request, so the router exists before start-up."""
    router = APIRouter(prefix="/api/v2", tags=["sla"])

    @router.get(
        "/tickets/{ticket_id}/sla",
        responses={401: {}, 403: {}, 404: {}},
        summary="Explain a ticket's SLA clocks",
    )
    async def ticket_sla(
        ticket_id: str,
        authorization: Annotated[str | None, Header()] = None,
        x_api_key: Annotated[str | None, Header()] = None,
    ) -> Any:
        """Each target's timeline (running, paused with the reason, out of hours), its due
        time, and the time remaining or the breach moment."""
        cases = use_cases()
        try:
            principal = await _principal(cases, settings(), authorization, x_api_key)
            if not _TICKET_ID.fullmatch(ticket_id):
                return _failure(404, ErrorCode.NOT_FOUND, f"Ticket {ticket_id[:40]} not found")
            explanation = await explain_sla(cases, principal, ticket_id)
        except InvalidToken as error:
            return _failure(401, "unauthorized", str(error))
        except DomainError as error:
            return _failure(_STATUS.get(error.code, 400), error.code, error.message)
        return {"success": True, "data": explanation.to_wire()}

    return router
