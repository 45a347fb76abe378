"""The ticket's conversation over REST: `GET/POST /api/v2/tickets/{ticketId}/messages`
and `POST .../first-response`. Same authentication, rate limit, read rule and envelope as
the other ticket routes."""

from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from contracts import commands as cmd
from contracts.base import WireModel
from contracts.conversation import (
    MAX_ATTACHMENTS,
    TEXT_LIMIT,
    ListMessages,
    OutgoingAttachment,
    ReplyToCustomer,
    TicketMessage,
)
from contracts.replies import Pagination
from contracts.rest import ErrorEnvelope
from infra.ratelimit import RateLimiter
from infra.settings import Settings
from services.ticket_service.access import with_visible_key
from services.ticket_service.api.caller import Caller, authentication
from services.ticket_service.api.models import TicketEnvelope, etag
from services.ticket_service.api.tickets import TicketIdPath, ticket_router
from services.ticket_service.conversation import Conversations
from services.ticket_service.customers import CustomerDesk
from services.ticket_service.usecases import TicketUseCases


class ReplyBody(WireModel):
    text: str = Field(min_length=1, max_length=TEXT_LIMIT, description="1-4096 characters")
    attachments: list[OutgoingAttachment] = Field(default_factory=list, max_length=MAX_ATTACHMENTS)


class ResponseBody(WireModel):
    responded_at: cmd.Moment | None = Field(
        default=None, description="When the customer was answered (default now)"
    )


class MessagesQuery(WireModel):
    page: int = Field(default=1, ge=1, le=100_000)
    limit: int = Field(default=50, ge=1, le=100)


class MessageEnvelope(BaseModel):
    success: Literal[True] = True
    data: TicketMessage


class MessageListEnvelope(BaseModel):
    success: Literal[True] = True
    data: list[TicketMessage]
    count: int
    pagination: Pagination


IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        description="Retries with the same key answer the same message, sent once",
    ),
]
_REPLY_ERRORS: dict[int | str, dict[str, Any]] = {
    409: {
        "model": ErrorEnvelope,
        "description": "The ticket is closed or cancelled (the message names the statuses that "
        "take replies), or the Idempotency-Key was used for a different reply",
    }
}


def build_messages_router(
    conversations: Callable[[], Conversations],
    use_cases: Callable[[], TicketUseCases],
    settings: Callable[[], Settings],
    limiter: Callable[[], RateLimiter],
) -> APIRouter:
    router = ticket_router("conversation")
    authenticated = Annotated[Caller, Depends(authentication(use_cases, settings, limiter))]

    @router.post(
        "/{ticketId}/messages",
        status_code=201,
        response_model=MessageEnvelope,
        responses=_REPLY_ERRORS,
        summary="Reply to the customer",
    )
    async def reply_to_customer(
        caller: authenticated, ticket_id: TicketIdPath, body: ReplyBody, key: IdempotencyKey = None
    ) -> Any:
        """Sent on WhatsApp (`whatsapp.outbound`); the first reply is the first response
        (SLA) and opens a `new` ticket. Internal notes never count as a response."""
        command = ReplyToCustomer(
            actor=caller.actor, ticket_id=ticket_id, idempotency_key=key, **body.model_dump()
        )
        message = await conversations().reply(command)
        return JSONResponse({"success": True, "data": message.to_wire()}, 201)

    @router.get(
        "/{ticketId}/messages", response_model=MessageListEnvelope, summary="The conversation"
    )
    async def list_ticket_messages(
        caller: authenticated, ticket_id: TicketIdPath, query: Annotated[MessagesQuery, Query()]
    ) -> Any:
        """The customer's messages and the assistant's and agents' replies, oldest first."""
        command = ListMessages(actor=caller.actor, ticket_id=ticket_id, **query.model_dump())
        page = await conversations().messages(command)
        body = {
            "success": True,
            "data": [m.to_wire() for m in page.items],
            "count": len(page.items),
            "pagination": page.pagination.model_dump(),
        }
        return JSONResponse(body)

    @router.post(
        "/{ticketId}/first-response",
        response_model=TicketEnvelope,
        responses={409: {"model": ErrorEnvelope, "description": "A concurrent change won"}},
        summary="Record a response made outside the system",
    )
    async def record_first_response(
        caller: authenticated, ticket_id: TicketIdPath, body: ResponseBody | None = None
    ) -> Any:
        """E.g. the agent phoned the customer: the first response is recorded once (met or
        missed against the due time) and a `new` ticket opens; later calls change nothing."""
        responded_at = body.responded_at if body else None
        command = cmd.MarkFirstResponse(
            actor=caller.actor, ticket_id=ticket_id, responded_at=responded_at
        )
        cases = use_cases()
        ticket = await cases.mark_first_response(command)
        data = with_visible_key(caller.actor, await CustomerDesk(cases).one(ticket))
        return JSONResponse({"success": True, "data": data}, headers=etag(ticket))

    return router
