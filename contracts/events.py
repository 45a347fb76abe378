"""Events on the `tickets.events` topic exchange; the routing key is the `type`."""

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field

from contracts.base import StoredModel
from contracts.conversation import Delivery, TicketMessage
from contracts.enums import ActorType, Priority, SlaKind, TicketStatus
from contracts.tickets import TicketSummary


class EventBase(StoredModel):
    event_id: str = Field(description="Unique per event; consumers deduplicate on it")
    occurred_at: datetime
    ticket_id: str


class TicketEventBase(EventBase):
    ticket: TicketSummary = Field(description="The ticket right after the change")


class TicketCreated(TicketEventBase):
    """A new ticket was opened."""

    type: Literal["ticket.created"] = "ticket.created"


class TicketAssigned(TicketEventBase):
    """A ticket was given to an agent (or moved from one agent to another)."""

    type: Literal["ticket.assigned"] = "ticket.assigned"
    agent_id: str
    previous_agent_id: str | None = None


class TicketUnassigned(TicketEventBase):
    """A ticket went back to the unassigned pool."""

    type: Literal["ticket.unassigned"] = "ticket.unassigned"
    previous_agent_id: str
    reason: str | None = None


class TicketStatusChanged(TicketEventBase):
    """The status moved along the lifecycle (by hand or automatically)."""

    type: Literal["ticket.status_changed"] = "ticket.status_changed"
    old_status: TicketStatus
    new_status: TicketStatus
    changed_by: ActorType
    changed_by_id: str | None = None
    reason: str | None = None
    automated: bool = False


class TicketUpdated(TicketEventBase):
    """Fields other than status and assignment changed; `changes` names them."""

    type: Literal["ticket.updated"] = "ticket.updated"
    changes: dict[str, object]


class TicketNoteAdded(TicketEventBase):
    """An agent added an internal note."""

    type: Literal["ticket.note_added"] = "ticket.note_added"
    note_id: str
    agent_id: str | None
    is_visible: bool


class TicketPriorityEscalated(TicketEventBase):
    """The priority went up; due times were re-planned."""

    type: Literal["ticket.priority_escalated"] = "ticket.priority_escalated"
    old_priority: Priority
    new_priority: Priority
    reason: str | None = None


class TicketMessageAdded(TicketEventBase):
    """A message joined the ticket's conversation (the customer's, the assistant's or an
    agent's); the ticket summary says who may read it."""

    type: Literal["ticket.message_added"] = "ticket.message_added"
    message: TicketMessage


class TicketMessageDeliveryUpdated(TicketEventBase):
    """What became of a reply sent on WhatsApp changed (sent, delivered, read, failed,
    unknown); the ticket summary says who may read it."""

    type: Literal["ticket.message_delivery_updated"] = "ticket.message_delivery_updated"
    message_id: str
    delivery: Delivery


class SlaEventBase(EventBase):
    kind: SlaKind
    priority: Priority
    customer_id: str | None = None
    assigned_agent: str | None = None
    target_seconds: int
    elapsed_seconds: int
    due_at: datetime


class SlaWarning(SlaEventBase):
    """A target is close to its due time (the warning point, 80% by default)."""

    type: Literal["sla.warning"] = "sla.warning"


class SlaBreached(SlaEventBase):
    """A target's due time passed without the response or resolution."""

    type: Literal["sla.breached"] = "sla.breached"


TicketEvent = Annotated[
    TicketCreated
    | TicketAssigned
    | TicketUnassigned
    | TicketStatusChanged
    | TicketUpdated
    | TicketNoteAdded
    | TicketPriorityEscalated
    | TicketMessageAdded
    | TicketMessageDeliveryUpdated,
    Field(discriminator="type"),
]

Event = Annotated[
    TicketCreated
    | TicketAssigned
    | TicketUnassigned
    | TicketStatusChanged
    | TicketUpdated
    | TicketNoteAdded
    | TicketPriorityEscalated
    | TicketMessageAdded
    | TicketMessageDeliveryUpdated
    | SlaWarning
    | SlaBreached,
    Field(discriminator="type"),
]
