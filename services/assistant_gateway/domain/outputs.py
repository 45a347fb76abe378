"""What each tool answers (the customer's `toolOutputs` contract, camelCase)."""

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from contracts.enums import Category, Language, Priority, TicketStatus
from contracts.tickets import Ticket
from services.assistant_gateway.domain.messages import Text, say


class Output(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    def to_wire(self) -> dict[str, object]:
        return self.model_dump(mode="json", by_alias=True)


class Failure(Output):
    success: Literal[False] = False
    error: str
    detail: str | None = None
    user_message: str


class TicketCreated(Output):
    success: Literal[True] = True
    ticket_id: str
    message: str
    status: TicketStatus
    priority: Priority


class AgentContact(Output):
    name: str
    email: str


class SlaView(Output):
    first_response_met: bool | None
    resolution_target: int
    time_remaining: int | None


class TicketInformation(Output):
    success: Literal[True] = True
    ticket_id: str
    status: TicketStatus
    priority: Priority
    category: Category
    title: str
    description: str
    created_at: datetime
    updated_at: datetime
    assigned_agent: AgentContact | None
    sla: SlaView | None


class TicketLine(Output):
    ticket_id: str
    title: str
    status: TicketStatus
    priority: Priority
    category: Category
    created_at: datetime
    updated_at: datetime


class TicketList(Output):
    success: Literal[True] = True
    count: int
    tickets: list[TicketLine]
    message: str | None = None


class CommentAdded(Output):
    success: Literal[True] = True
    ticket_id: str
    status: TicketStatus
    message: str


class HumanAgentRequested(Output):
    success: Literal[True] = True
    ticket_id: str
    priority: Priority
    message: str


class TicketRated(Output):
    success: Literal[True] = True
    ticket_id: str
    rating: int
    message: str


@dataclass(frozen=True, slots=True)
class Views:
    """Builds outputs in one customer's language at one moment."""

    language: Language
    now: datetime

    def failure(self, error: str, text: Text, detail: str | None = None, **values: str) -> Failure:
        return Failure(error=error, detail=detail, user_message=say(text, self.language, **values))

    def created(self, ticket: Ticket) -> TicketCreated:
        message = say(Text.CREATED, self.language, ticket_id=ticket.ticket_id)
        return TicketCreated(
            ticket_id=ticket.ticket_id,
            message=message,
            status=ticket.status,
            priority=ticket.priority,
        )

    def information(self, ticket: Ticket, agent: AgentContact | None) -> TicketInformation:
        return TicketInformation(
            ticket_id=ticket.ticket_id,
            status=ticket.status,
            priority=ticket.priority,
            category=ticket.category,
            title=ticket.title,
            description=ticket.description,
            created_at=ticket.created_at,
            updated_at=ticket.updated_at,
            assigned_agent=agent,
            sla=self._sla(ticket),
        )

    def _sla(self, ticket: Ticket) -> SlaView:
        """`timeRemaining`: milliseconds to the resolution due time (negative once late);
        null while the clock is paused or after resolution."""
        due = ticket.sla.resolution_due_at
        running = due is not None and ticket.sla.paused_at is None and ticket.resolved_at is None
        remaining = int((due - self.now).total_seconds() * 1000) if running and due else None
        return SlaView(
            first_response_met=ticket.sla.first_response_met,
            resolution_target=ticket.sla.resolution_target,
            time_remaining=remaining,
        )

    def listing(self, tickets: list[Ticket]) -> TicketList:
        lines = [TicketLine.model_validate(t.model_dump()) for t in tickets]
        empty = say(Text.NO_OPEN_TICKET, self.language) if not lines else None
        return TicketList(count=len(lines), tickets=lines, message=empty)

    def comment_added(self, ticket: Ticket) -> CommentAdded:
        message = say(Text.COMMENT_ADDED, self.language, ticket_id=ticket.ticket_id)
        return CommentAdded(ticket_id=ticket.ticket_id, status=ticket.status, message=message)

    def human_requested(self, ticket: Ticket) -> HumanAgentRequested:
        message = say(Text.HUMAN_REQUESTED, self.language, ticket_id=ticket.ticket_id)
        return HumanAgentRequested(
            ticket_id=ticket.ticket_id, priority=ticket.priority, message=message
        )

    def rated(self, ticket: Ticket, rating: int) -> TicketRated:
        message = say(Text.RATED, self.language, ticket_id=ticket.ticket_id, rating=str(rating))
        return TicketRated(ticket_id=ticket.ticket_id, rating=rating, message=message)
