"""The ticket as stored and as every surface shows it (the customer's schema, camelCase)."""

from datetime import datetime

from pydantic import Field

from contracts.base import StoredModel
from contracts.enums import ActorType, Category, Channel, Priority, Source, TicketStatus


class StatusChange(StoredModel):
    from_status: TicketStatus | None = Field(default=None, alias="from")
    to_status: TicketStatus = Field(alias="to")
    changed_by: str | None = None
    changed_by_type: ActorType
    reason: str | None = None
    timestamp: datetime
    automated: bool = False


class Assignment(StoredModel):
    agent: str
    assigned_at: datetime
    released_at: datetime | None = None
    reason: str | None = None


class InternalNote(StoredModel):
    note_id: str
    agent: str | None
    author_type: ActorType = ActorType.AGENT
    content: str
    timestamp: datetime
    is_visible: bool = False


class Attachment(StoredModel):
    url: str
    type: str | None = None
    filename: str | None = None
    size: int | None = None
    message_id: str | None = Field(default=None, description="The conversation message")
    uploaded_by: str | None = None
    uploaded_by_type: ActorType | None = None
    uploaded_at: datetime | None = None


class CustomerSatisfaction(StoredModel):
    rating: int = Field(ge=1, le=5)
    comment: str | None = None
    submitted_at: datetime


class SlaBlock(StoredModel):
    """Targets in milliseconds (the customer's unit); due times computed by the ticket service.

    The resolution clock is paused while `paused_at` is set; `paused_total` is the
    working time spent paused in the current resolution cycle.
    """

    first_response_target: int
    resolution_target: int
    first_response_due_at: datetime | None = None
    first_response_warning_at: datetime | None = None
    resolution_due_at: datetime | None = None
    resolution_warning_at: datetime | None = None
    resolution_cycle_started_at: datetime | None = None
    paused_at: datetime | None = None
    paused_total: int = 0
    first_response_at: datetime | None = None
    first_response_met: bool | None = None
    first_response_breach_at: datetime | None = None
    resolution_met: bool | None = None
    resolution_breach_at: datetime | None = None
    breach_alert_sent: bool = False
    breach_reason: str | None = None
    auto_close_due_at: datetime | None = None


class Ticket(StoredModel):
    ticket_id: str
    title: str
    description: str
    customer_id: str
    conversation_id: str | None = None
    assigned_agent: str | None = None
    status: TicketStatus = TicketStatus.NEW
    priority: Priority = Priority.MEDIUM
    category: Category = Category.SUPPORT
    subcategory: str | None = None
    tags: list[str] = Field(default_factory=list)
    source: Source = Source.AI
    ai_generated: bool = False
    channel: Channel = Channel.WHATSAPP
    idempotency_key: str | None = None
    sla: SlaBlock
    first_response_time: int | None = None
    resolution_time: int | None = None
    active_work_time: int = 0
    customer_wait_time: int = 0
    status_history: list[StatusChange] = Field(default_factory=list)
    assignment_history: list[Assignment] = Field(default_factory=list)
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    resolution_notes: str | None = None
    customer_satisfaction: CustomerSatisfaction | None = None
    internal_notes: list[InternalNote] = Field(default_factory=list)
    related_tickets: list[str] = Field(default_factory=list)
    attachments: list[Attachment] = Field(default_factory=list)
    closed_at: datetime | None = None
    closed_by: str | None = None
    closed_by_type: ActorType | None = None
    close_reason: str | None = None
    reopen_count: int = 0
    last_reopened_at: datetime | None = None
    last_reopened_by: str | None = None
    last_reopened_by_type: ActorType | None = None
    last_customer_message_at: datetime | None = None
    created_at: datetime
    updated_at: datetime
    revision: int = 0

    @property
    def rated_this_resolution(self) -> bool:
        """A CSAT rating was submitted since the ticket was (last) resolved: a ticket is
        rated once per resolution, and again after a reopen and a new resolution."""
        rating, resolved = self.customer_satisfaction, self.resolved_at
        return rating is not None and resolved is not None and rating.submitted_at >= resolved


class TicketSummary(StoredModel):
    """What every ticket event carries, so consumers need not read the ticket back."""

    ticket_id: str
    title: str
    status: TicketStatus
    priority: Priority
    category: Category
    customer_id: str
    conversation_id: str | None = None
    assigned_agent: str | None = None
    source: Source
    channel: Channel
    created_at: datetime
    revision: int
    sla: SlaBlock
    resolved_at: datetime | None = None
    closed_at: datetime | None = None

    @classmethod
    def of(cls, ticket: Ticket) -> "TicketSummary":
        return cls.model_validate(ticket.model_dump(include=set(cls.model_fields)))
