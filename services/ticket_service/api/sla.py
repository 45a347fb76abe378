"""`GET /api/v2/tickets/{ticketId}/sla`: each SLA clock explained.

Same authentication, rate limit and error envelope as the rest of the REST API: an agent
sees the tickets the access rules let them see (own + unassigned pool, admins all), a
service with a valid `X-API-Key` sees all, and a ticket the caller may not see is 404.
"""

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from infra.ratelimit import RateLimiter
from infra.settings import Settings
from services.ticket_service.api.caller import Caller, authentication
from services.ticket_service.api.tickets import TicketIdPath, ticket_router
from services.ticket_service.domain.breach import SlaExplanation
from services.ticket_service.sla_usecases import explain_sla
from services.ticket_service.usecases import TicketUseCases


class SlaEnvelope(BaseModel):
    success: bool = True
    data: SlaExplanation


def build_sla_router(
    use_cases: Callable[[], TicketUseCases],
    settings: Callable[[], Settings],
    limiter: Callable[[], RateLimiter],
) -> APIRouter:
    """The callables resolve per request, so the router exists before start-up."""
    router = ticket_router("sla")
    authenticated = Annotated[Caller, Depends(authentication(use_cases, settings, limiter))]

    @router.get("/{ticketId}/sla", response_model=SlaEnvelope, summary="Explain the SLA clocks")
    async def get_ticket_sla(caller: authenticated, ticket_id: TicketIdPath) -> Any:
        """Each target's timeline (running, paused with the reason, out of hours), its due
        time, and the time remaining or the breach moment, as of now."""
        cases = use_cases()
        principal = await cases.principal(caller.actor)
        explanation = await explain_sla(cases, principal, ticket_id)
        return JSONResponse({"success": True, "data": explanation.to_wire()})

    return router
