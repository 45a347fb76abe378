"""Which Socket.IO push an event becomes, with which payload, for which rooms.

Rooms: every agent is in `agents` and `agent_<id>`, admins also in `admins`. An agent may
read the tickets assigned to them and the unassigned pool (ticket_service/access.py), so an
unassigned ticket goes to `agents` and an assigned one only to its agent and the admins:
after a reassignment the previous agent hears nothing more about it.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from contracts.events import (
    Event,
    SlaBreached,
    TicketAssigned,
    TicketCreated,
    TicketEventBase,
    TicketMessageAdded,
    TicketMessageDeliveryUpdated,
    TicketPriorityEscalated,
    TicketStatusChanged,
    TicketUnassigned,
    TicketUpdated,
)

ALL_AGENTS = "agents"
ADMINS = "admins"

Payload = dict[str, object]


def agent_room(agent_id: str) -> str:
    return f"agent_{agent_id}"


def rooms_of(agent_id: str, *, admin: bool) -> list[str]:
    """The rooms a connected agent joins."""
    return [ALL_AGENTS, agent_room(agent_id), *([ADMINS] if admin else [])]


@dataclass(frozen=True, slots=True)
class Push:
    event: str
    rooms: tuple[str, ...]
    payload: Payload


def readers(event: TicketEventBase) -> tuple[str, ...]:
    """Who may read the ticket as it is after the change."""
    agent = event.ticket.assigned_agent
    return (ALL_AGENTS,) if agent is None else (agent_room(agent), ADMINS)


def breach_readers(event: SlaBreached) -> tuple[str, ...]:
    agent = event.assigned_agent
    return (ADMINS,) if agent is None else (ADMINS, agent_room(agent))


def created(event: TicketCreated) -> Payload:
    ticket = event.ticket
    return {
        "ticketId": event.ticket_id,
        "customerId": ticket.customer_id,
        "conversationId": ticket.conversation_id,
        "priority": ticket.priority.value,
        "category": ticket.category.value,
    }


def assigned(event: TicketAssigned) -> Payload:
    return {
        "ticketId": event.ticket_id,
        "agentId": event.agent_id,
        "customerId": event.ticket.customer_id,
        "priority": event.ticket.priority.value,
    }


def unassigned(event: TicketUnassigned) -> Payload:
    return {"ticketId": event.ticket_id, "assignedAgent": None, "status": event.ticket.status.value}


def status_changed(event: TicketStatusChanged) -> Payload:
    return {
        "ticketId": event.ticket_id,
        "oldStatus": event.old_status.value,
        "newStatus": event.new_status.value,
        "changedBy": event.changed_by_id or event.changed_by.value,
        "changedByType": event.changed_by.value,
    }


def updated(event: TicketUpdated) -> Payload:
    return {**event.changes, "ticketId": event.ticket_id}


def escalated(event: TicketPriorityEscalated) -> Payload:
    return {
        "ticketId": event.ticket_id,
        "oldPriority": event.old_priority.value,
        "newPriority": event.new_priority.value,
        "reason": event.reason,
    }


def breached(event: SlaBreached) -> Payload:
    return {
        "ticketId": event.ticket_id,
        "customerId": event.customer_id,
        "assignedAgent": event.assigned_agent,
        "breachType": event.kind.value,
    }


def message(event: TicketMessageAdded) -> Payload:
    return {"ticketId": event.ticket_id, "message": event.message.to_wire()}


def delivery(event: TicketMessageDeliveryUpdated) -> Payload:
    return {
        "ticketId": event.ticket_id,
        "messageId": event.message_id,
        "delivery": event.delivery.model_dump(mode="json", by_alias=True, exclude_none=True),
    }


Rule = tuple[str, Callable[[Any], Payload], Callable[[Any], tuple[str, ...]]]

PUSHES: dict[str, Rule] = {
    "ticket.created": ("ticket_created", created, readers),
    "ticket.assigned": ("ticket_assigned", assigned, readers),
    "ticket.unassigned": ("ticket_updated", unassigned, readers),
    "ticket.status_changed": ("ticket_status_changed", status_changed, readers),
    "ticket.updated": ("ticket_updated", updated, readers),
    "ticket.priority_escalated": ("ticket_priority_escalated", escalated, readers),
    "ticket.message_added": ("ticket_message", message, readers),
    "ticket.message_delivery_updated": ("ticket_message_delivery", delivery, readers),
    "sla.breached": ("sla_breach_alert", breached, breach_readers),
}
"""Event type -> (Socket.IO event, payload, rooms). Types not listed (internal notes, SLA
warnings) are not pushed; webhooks still carry them."""


def push_for(event: Event) -> Push | None:
    rule = PUSHES.get(event.type)
    if rule is None:
        return None
    name, payload, rooms = rule
    return Push(name, rooms(event), payload(event))
