"""Commands to the ticket service, one class per `tickets.v1.*` queue (request/reply)."""

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, Field, model_validator

from contracts.actors import Actor, AgentActor, CustomerActor, PhoneNumber, SystemActor
from contracts.base import WireModel
from contracts.enums import (
    Category,
    Channel,
    Language,
    Priority,
    SlaKind,
    Source,
    TicketStatus,
)

TicketId = Annotated[
    str,
    Field(
        pattern=r"^TICKET-\d{4}-\d{6,}$",
        max_length=32,
        description="Human-readable ticket id",
        examples=["TICKET-2026-000001"],
    ),
]
Title = Annotated[str, Field(min_length=5, max_length=200, examples=["Order not delivered"])]
Description = Annotated[
    str,
    Field(min_length=10, max_length=5000, examples=["My order #12345 has not arrived yet."]),
]
Reason = Annotated[str, Field(max_length=500)]
ExpectedRevision = Annotated[
    int | None,
    Field(
        default=None,
        ge=0,
        description="Optimistic lock: refuse with `conflict` unless the ticket is still at it",
    ),
]
ObjectIdText = Annotated[str, Field(pattern=r"^[0-9a-f]{24}$", description="A 24-hex object id")]


def _storable(moment: datetime) -> datetime:
    try:
        moment.astimezone(UTC)
    except OverflowError as error:
        raise ValueError("in UTC this moment falls outside the years 1-9999") from error
    return moment


Moment = Annotated[AwareDatetime, AfterValidator(_storable)]
"""A moment with its offset that MongoDB can compare against (its UTC time is in range)."""


class CustomerByPhone(WireModel):
    phone: PhoneNumber
    name: str | None = Field(default=None, max_length=120)
    language: Language | None = None


class CustomerById(WireModel):
    customer_id: ObjectIdText


class CreateTicket(WireModel):
    """Open a ticket; the same `idempotencyKey` always answers with the same ticket."""

    actor: Actor
    title: Title
    description: Description
    category: Category = Category.SUPPORT
    priority: Priority = Priority.MEDIUM
    source: Source
    channel: Channel = Channel.WHATSAPP
    customer: CustomerByPhone | CustomerById
    conversation_id: str | None = Field(default=None, max_length=64)
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=200)
    subcategory: str | None = Field(default=None, max_length=100)
    tags: list[Annotated[str, Field(max_length=50)]] = Field(default_factory=list, max_length=20)
    assign_to_self: bool = Field(
        default=False, description="An agent creating a ticket takes it at once"
    )


class GetTicket(WireModel):
    actor: Actor
    ticket_id: TicketId


SortKey = Literal[
    "createdAt",
    "-createdAt",
    "priority",
    "-priority",
    "slaDueAt",
    "-slaDueAt",
    "updatedAt",
    "-updatedAt",
]


ListCursor = Annotated[
    str,
    Field(
        min_length=1,
        max_length=512,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="`pagination.nextCursor` of the previous page, with the same filters and "
        "sort: the next page, by position rather than by offset (deep pages stay fast, "
        "tickets created meanwhile never shift one onto two pages); instead of `page`",
    ),
]


class ListTickets(WireModel):
    actor: Actor
    status: list[TicketStatus] | None = None
    priority: list[Priority] | None = None
    category: list[Category] | None = None
    assigned_agent: str | None = Field(
        default=None, max_length=64, description="An agent id, or 'none' for the unassigned pool"
    )
    customer_id: ObjectIdText | None = None
    created_from: Moment | None = None
    created_to: Moment | None = None
    q: str | None = Field(default=None, max_length=200, description="Full-text search")
    open_only: bool = Field(default=False, description="Leave out closed and cancelled tickets")
    page: int = Field(default=1, ge=1, le=100_000)
    limit: int = Field(default=20, ge=1, le=100)
    sort: SortKey = "-createdAt"
    cursor: ListCursor | None = None

    @model_validator(mode="after")
    def _page_or_cursor(self) -> "ListTickets":
        if self.cursor is not None and self.page != 1:
            raise ValueError("give page or cursor, not both")
        return self


class AssignTicket(WireModel):
    actor: AgentActor | SystemActor = Field(discriminator="type")
    ticket_id: TicketId
    agent_id: str = Field(min_length=1, max_length=64)
    reason: Reason | None = None
    expected_revision: ExpectedRevision = None


class UnassignTicket(WireModel):
    actor: AgentActor | SystemActor = Field(discriminator="type")
    ticket_id: TicketId
    reason: Reason | None = None
    expected_revision: ExpectedRevision = None


class ChangeStatus(WireModel):
    actor: Actor
    ticket_id: TicketId
    status: TicketStatus
    reason: Reason | None = None
    resolution_notes: str | None = Field(default=None, max_length=2000)
    expected_revision: ExpectedRevision = None


class AddNote(WireModel):
    """An agent's internal note, or a customer adding information to their own ticket
    (a customer's note is always visible to them)."""

    actor: Actor
    ticket_id: TicketId
    content: str = Field(min_length=1, max_length=5000)
    is_visible: bool = False


class MarkFirstResponse(WireModel):
    """The customer was answered (outside the ticket's conversation, e.g. by phone): the
    first response is recorded once, and a `new` ticket opens."""

    actor: AgentActor | SystemActor = Field(discriminator="type")
    ticket_id: TicketId
    responded_at: Moment | None = Field(
        default=None, description="When the response was given (default now; not before creation)"
    )


class RateTicket(WireModel):
    actor: Actor
    ticket_id: TicketId
    rating: int = Field(ge=1, le=5)
    comment: str | None = Field(default=None, max_length=1000)


class EscalatePriority(WireModel):
    actor: Actor
    ticket_id: TicketId
    priority: Priority | None = Field(
        default=None, description="The new priority; the next level up when left out"
    )
    reason: Reason | None = None
    expected_revision: ExpectedRevision = None


class UpdateTicket(WireModel):
    """Change how a ticket is classified: priority (a raise is an escalation with its
    re-planned SLA), category, subcategory, tags. Agents and the System only."""

    actor: Actor
    ticket_id: TicketId
    priority: Priority | None = None
    category: Category | None = None
    subcategory: str | None = Field(
        default=None, max_length=100, description="An empty string clears it"
    )
    tags: list[Annotated[str, Field(max_length=50)]] | None = Field(
        default=None, max_length=20, description="Replaces the tags; [] clears them"
    )
    reason: Reason | None = None
    expected_revision: ExpectedRevision = None


class CustomerMessage(WireModel):
    """A customer wrote: resumes, reopens or follows up the customer's current ticket."""

    actor: CustomerActor
    message_id: str = Field(min_length=1, max_length=200)
    text: str = Field(min_length=1, max_length=5000)
    conversation_id: str | None = Field(default=None, max_length=64)
    received_at: datetime


class RecordSlaBreach(WireModel):
    """sla_monitor saw a due time pass: record the breach on the ticket (once per kind)."""

    actor: SystemActor
    ticket_id: TicketId
    kind: SlaKind
    due_at: AwareDatetime = Field(description="The due time the monitor's timer held")
    detected_at: AwareDatetime = Field(description="When the monitor noticed the breach")
    escalate_priority: bool = Field(
        default=False,
        description="Also raise the priority one level, in the same update (plan 12.4)",
    )


__all__ = [
    "AddNote",
    "AgentActor",
    "AssignTicket",
    "ChangeStatus",
    "CreateTicket",
    "CustomerActor",
    "CustomerById",
    "CustomerByPhone",
    "CustomerMessage",
    "EscalatePriority",
    "GetTicket",
    "ListTickets",
    "MarkFirstResponse",
    "RateTicket",
    "RecordSlaBreach",
    "SystemActor",
    "UnassignTicket",
    "UpdateTicket",
]
