"""`PATCH /api/v2/tickets/{ticketId}`: reclassify a ticket (priority, category,
subcategory, tags) under optimistic locking (`If-Match: "<revision>"` or
`expectedRevision`)."""

import re
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header
from fastapi.exceptions import RequestValidationError
from pydantic import Field, model_validator

from contracts import commands as cmd
from contracts.base import WireModel
from contracts.enums import Category, Priority
from contracts.rest import ErrorEnvelope
from infra.ratelimit import RateLimiter
from infra.settings import Settings
from services.ticket_service.api.caller import Caller, authentication
from services.ticket_service.api.models import TicketEnvelope
from services.ticket_service.api.tickets import TicketIdPath, ticket_router
from services.ticket_service.api.tickets import _one as ticket_reply
from services.ticket_service.ticket_edits import update_ticket
from services.ticket_service.usecases import TicketUseCases

_ETAG = re.compile(r'^\s*(?:W/)?"?(\d{1,12})"?\s*$')
EDITABLE = ("priority", "category", "subcategory", "tags")


class EditBody(WireModel):
    """At least one of priority, category, subcategory, tags."""

    priority: Priority | None = Field(
        default=None, description="Higher than now: an escalation; lower: due times re-planned"
    )
    category: Category | None = None
    subcategory: str | None = Field(
        default=None, max_length=100, description="An empty string clears it"
    )
    tags: list[Annotated[str, Field(max_length=50)]] | None = Field(
        default=None,
        max_length=20,
        description="Replaces the tags (trimmed, lower-case); [] clears them",
    )
    reason: cmd.Reason | None = None
    expected_revision: cmd.ExpectedRevision = None

    @model_validator(mode="after")
    def _something(self) -> "EditBody":
        if all(getattr(self, name) is None for name in EDITABLE):
            raise ValueError(f"give at least one of {', '.join(EDITABLE)}")
        return self


def _bad_if_match(message: str) -> RequestValidationError:
    return RequestValidationError(
        [{"loc": ("header", "If-Match"), "msg": message, "type": "value_error"}]
    )


def revision_of(if_match: str | None, body: EditBody) -> int | None:
    """The revision the caller expects: `If-Match` (`"3"`, `W/"3"`, `*` for any) or the
    body's `expectedRevision`; both given must agree."""
    header: int | None = None
    if if_match is not None and if_match.strip() != "*":
        match = _ETAG.fullmatch(if_match)
        if match is None:
            raise _bad_if_match('expected one ETag of a ticket, like "3"')
        header = int(match.group(1))
    if header is not None and body.expected_revision not in (None, header):
        raise _bad_if_match("If-Match and expectedRevision name different revisions")
    return header if header is not None else body.expected_revision


def build_edit_router(
    use_cases: Callable[[], TicketUseCases],
    settings: Callable[[], Settings],
    limiter: Callable[[], RateLimiter],
) -> APIRouter:
    router = ticket_router("tickets")
    authenticated = Annotated[Caller, Depends(authentication(use_cases, settings, limiter))]

    @router.patch(
        "/{ticketId}",
        response_model=TicketEnvelope,
        responses={
            409: {
                "model": ErrorEnvelope,
                "description": "`conflict`: the ticket is no longer at the revision named by "
                "`If-Match` / `expectedRevision`, or a concurrent change won; "
                "`invalid_transition`: a priority change on a closed or cancelled ticket",
            }
        },
        summary="Edit priority, category, tags",
    )
    async def edit_ticket(
        caller: authenticated,
        ticket_id: TicketIdPath,
        body: EditBody,
        if_match: Annotated[str | None, Header(max_length=64)] = None,
    ) -> Any:
        """A priority raise is an escalation (`ticket.priority_escalated`, SLA due times
        re-planned); a lowering re-plans them too. The reply's `ETag` is the new revision."""
        command = cmd.UpdateTicket(
            actor=caller.actor,
            ticket_id=ticket_id,
            **body.model_dump(exclude={"expected_revision"}),
            expected_revision=revision_of(if_match, body),
        )
        return await ticket_reply(use_cases(), caller, await update_ticket(use_cases(), command))

    return router
