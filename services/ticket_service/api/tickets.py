"""The agents' REST API (`/api/v2/tickets`): thin routes over the same use cases as the
command queues. Each route builds the command with the verified caller as actor, runs one
use case and wraps the result in the customer's envelope; `EnvelopeRoute` maps errors."""

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import JSONResponse

from contracts import commands as cmd
from contracts.enums import Source
from contracts.replies import TicketPage
from contracts.rest import ErrorEnvelope
from contracts.tickets import Ticket
from infra.ratelimit import RateLimiter
from infra.settings import Settings
from services.ticket_service.access import with_visible_key
from services.ticket_service.api.caller import Caller, authentication
from services.ticket_service.api.errors import ERROR_RESPONSES, EnvelopeRoute
from services.ticket_service.api.models import (
    AssignBody,
    ListQuery,
    NewTicket,
    NoteBody,
    RangeQuery,
    StatisticsEnvelope,
    StatusBody,
    TicketEnvelope,
    TicketListEnvelope,
    UnassignBody,
    etag,
)
from services.ticket_service.customers import CustomerDesk
from services.ticket_service.domain.lifecycle import OPEN_STATUSES
from services.ticket_service.statistics import StatisticsQuery
from services.ticket_service.usecases import TicketUseCases

TicketIdPath = Annotated[
    str, Path(alias="ticketId", pattern=r"^TICKET-\d{4}-\d{6,}$", max_length=32)
]
_CONFLICTS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorEnvelope, "description": "A referenced agent or customer does not exist"},
    409: {
        "model": ErrorEnvelope,
        "description": "Invalid transition (the valid next statuses are in the message), or "
        "a stale `expectedRevision` / concurrent change (`conflict`)",
    },
}


_BAD_CURSOR: dict[int | str, dict[str, Any]] = {
    400: {
        "model": ErrorEnvelope,
        "description": "A `cursor` this API did not issue, or one made for other filters or "
        "another sort (`validation`)",
    }
}


async def _one(
    cases: TicketUseCases, caller: Caller, ticket: Ticket, status_code: int = 200
) -> JSONResponse:
    """The ticket with its customer; `ETag` is its revision (for `If-Match`)."""
    data = with_visible_key(caller.actor, await CustomerDesk(cases).one(ticket))
    return JSONResponse({"success": True, "data": data}, status_code, headers=etag(ticket))


async def _page(cases: TicketUseCases, caller: Caller, page: TicketPage) -> JSONResponse:
    items = await CustomerDesk(cases).page(page)
    body = {
        "success": True,
        "data": [with_visible_key(caller.actor, item) for item in items],
        "count": len(page.items),
        "pagination": page.pagination.model_dump(),
    }
    return JSONResponse(body)


def _listing(caller: Caller, query: ListQuery, **override: Any) -> cmd.ListTickets:
    return cmd.ListTickets.model_validate(
        {**query.model_dump(exclude_none=True), "actor": caller.actor, **override}
    )


def ticket_router(tag: str) -> APIRouter:
    """A router under `/api/v2/tickets` answering every failure with the error envelope."""
    return APIRouter(
        prefix="/api/v2/tickets", tags=[tag], route_class=EnvelopeRoute, responses=ERROR_RESPONSES
    )


def build_api(
    use_cases: Callable[[], TicketUseCases],
    settings: Callable[[], Settings],
    limiter: Callable[[], RateLimiter],
) -> APIRouter:
    """The callables resolve per request, so the router exists before start-up."""
    router = ticket_router("tickets")
    authenticated = Annotated[Caller, Depends(authentication(use_cases, settings, limiter))]

    async def one(caller: Caller, ticket: Ticket, status_code: int = 200) -> JSONResponse:
        return await _one(use_cases(), caller, ticket, status_code)

    async def page_of(caller: Caller, page: TicketPage) -> JSONResponse:
        return await _page(use_cases(), caller, page)

    @router.get(
        "",
        response_model=TicketListEnvelope,
        responses=_BAD_CURSOR,
        summary="List tickets",
    )
    async def list_tickets(caller: authenticated, query: Annotated[ListQuery, Query()]) -> Any:
        """The tickets the caller may see (an agent: own + unassigned pool; an admin: all),
        filtered, searched (`q`), sorted and paged (`limit` at most 100): by `page`, or,
        for deep pages, by `cursor` (the previous page's `pagination.nextCursor`)."""
        return await page_of(caller, await use_cases().list(_listing(caller, query)))

    @router.get("/statistics", response_model=StatisticsEnvelope, summary="Ticket statistics")
    async def get_ticket_statistics(
        caller: authenticated, query: Annotated[RangeQuery, Query()]
    ) -> Any:
        """Counts by status, average first-response and resolution times (overall, by
        priority, by category; milliseconds), SLA compliance, reopen rate, CSAT and
        per-agent figures over the tickets created in the range that the caller may see."""
        command = StatisticsQuery(actor=caller.actor, **query.model_dump())
        report = await use_cases().statistics(command)
        return JSONResponse({"success": True, "data": report.to_wire()})

    @router.get(
        "/agent/{agentId}",
        response_model=TicketListEnvelope,
        responses=_BAD_CURSOR,
        summary="Agent's tickets",
    )
    async def list_agent_tickets(
        caller: authenticated,
        query: Annotated[ListQuery, Query()],
        agent_id: Annotated[str, Path(alias="agentId", min_length=1, max_length=64)],
    ) -> Any:
        """An agent's unresolved tickets (any status with `status=`); an agent may ask only
        for themselves, an admin for anyone (404 otherwise)."""
        statuses = query.status or OPEN_STATUSES
        command = _listing(caller, query, assigned_agent=agent_id, status=statuses)
        return await page_of(caller, await use_cases().agent_tickets(command))

    @router.get(
        "/customer/{customerId}",
        response_model=TicketListEnvelope,
        responses=_BAD_CURSOR,
        summary="Customer's tickets",
    )
    async def list_customer_tickets(
        caller: authenticated,
        query: Annotated[ListQuery, Query()],
        customer_id: Annotated[str, Path(alias="customerId", pattern=r"^[0-9a-f]{24}$")],
    ) -> Any:
        """A customer's tickets, limited to those the caller may see."""
        command = _listing(caller, query, customer_id=customer_id)
        return await page_of(caller, await use_cases().list(command))

    @router.get("/{ticketId}", response_model=TicketEnvelope, summary="One ticket")
    async def get_ticket(caller: authenticated, ticket_id: TicketIdPath) -> Any:
        """An agent's first look at a `new` ticket moves it to `open` (recorded, automated)."""
        return await one(
            caller, await use_cases().get(cmd.GetTicket(actor=caller.actor, ticket_id=ticket_id))
        )

    @router.post(
        "",
        status_code=201,
        response_model=TicketEnvelope,
        responses=_CONFLICTS,
        summary="Open a ticket",
    )
    async def create_ticket(caller: authenticated, body: NewTicket) -> Any:
        """At most 10 tickets per customer per hour and a cap on a customer's open tickets
        (429 with `Retry-After`); the same `idempotencyKey` returns the same ticket."""
        command = cmd.CreateTicket(
            actor=caller.actor,
            source=Source.AGENT if caller.actor.type == "Agent" else Source.SYSTEM,
            customer=body.customer_ref(),
            **body.model_dump(exclude={"customer", "customer_id"}),
        )
        return await one(caller, await use_cases().create(command), 201)

    @router.put(
        "/{ticketId}/assign", response_model=TicketEnvelope, responses=_CONFLICTS, summary="Assign"
    )
    async def assign_ticket(
        caller: authenticated, ticket_id: TicketIdPath, body: AssignBody
    ) -> Any:
        """Assigning a new/open/reopened ticket also moves it to in_progress."""
        command = cmd.AssignTicket(actor=caller.actor, ticket_id=ticket_id, **body.model_dump())
        return await one(caller, await use_cases().assign(command))

    @router.put(
        "/{ticketId}/unassign",
        response_model=TicketEnvelope,
        responses=_CONFLICTS,
        summary="Return to the pool",
    )
    async def unassign_ticket(
        caller: authenticated, ticket_id: TicketIdPath, body: UnassignBody | None = None
    ) -> Any:
        """The ticket keeps its status and goes back to the unassigned pool."""
        fields = body.model_dump() if body else {}
        command = cmd.UnassignTicket(actor=caller.actor, ticket_id=ticket_id, **fields)
        return await one(caller, await use_cases().unassign(command))

    @router.put(
        "/{ticketId}/status",
        response_model=TicketEnvelope,
        responses=_CONFLICTS,
        summary="Change the status",
    )
    async def change_ticket_status(
        caller: authenticated, ticket_id: TicketIdPath, body: StatusBody
    ) -> Any:
        """Only the lifecycle's transitions are accepted; otherwise 409 naming the valid ones."""
        command = cmd.ChangeStatus(actor=caller.actor, ticket_id=ticket_id, **body.model_dump())
        return await one(caller, await use_cases().change_status(command))

    @router.put(
        "/{ticketId}/notes",
        response_model=TicketEnvelope,
        responses={409: {"model": ErrorEnvelope, "description": "A concurrent change won"}},
        summary="Add an internal note",
    )
    async def add_ticket_note(
        caller: authenticated, ticket_id: TicketIdPath, body: NoteBody
    ) -> Any:
        """Internal unless `isVisible`; the ticket comes back with the note appended."""
        command = cmd.AddNote(actor=caller.actor, ticket_id=ticket_id, **body.model_dump())
        return await one(caller, await use_cases().add_note(command))

    return router
