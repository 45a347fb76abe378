"""An agent's edit of how a ticket is classified: priority, category, subcategory, tags.

A priority raise is an escalation (`ticket.priority_escalated`, due times re-planned, as
`escalate` does); a lowering re-plans the due times too and is announced with the other
field changes in one `ticket.updated`. Fields given with their current value change
nothing, and an edit that changes nothing writes nothing.
"""

from dataclasses import dataclass
from datetime import datetime

from contracts.enums import PRIORITY_ORDER, Category, Priority, TicketStatus
from contracts.events import TicketUpdated
from contracts.sla import SlaPolicy
from contracts.tickets import Ticket
from services.ticket_service.domain import sla as sla_math
from services.ticket_service.domain.errors import InvalidTransition
from services.ticket_service.domain.lifecycle import ALLOWED_TRANSITIONS
from services.ticket_service.domain.model import (
    Change,
    clean_tags,
    new_event_id,
    summary,
    touched,
)
from services.ticket_service.domain.operations import escalate

FROZEN = frozenset({TicketStatus.CLOSED, TicketStatus.CANCELLED})
"""No priority change once closed or cancelled: there is no clock left to re-plan."""


@dataclass(frozen=True, slots=True)
class TicketEdit:
    """None: leave as it is. An empty subcategory clears it; empty tags clear them."""

    priority: Priority | None = None
    category: Category | None = None
    subcategory: str | None = None
    tags: tuple[str, ...] | None = None
    reason: str | None = None


def edit(ticket: Ticket, wanted: TicketEdit, now: datetime, policy: SlaPolicy) -> Change:
    change = Change(ticket)
    changes: dict[str, object] = {}
    fields: dict[str, object] = {}
    if wanted.priority is not None and wanted.priority is not ticket.priority:
        if ticket.status in FROZEN:
            raise InvalidTransition(
                ticket.status,
                None,
                ALLOWED_TRANSITIONS[ticket.status],
                f"Cannot change the priority of a {ticket.status} ticket",
            )
        if _rank(wanted.priority) > _rank(ticket.priority):
            change = escalate(ticket, now, policy, wanted.priority, wanted.reason)
        else:
            sla = sla_math.retarget(ticket.sla, policy, wanted.priority, ticket.created_at)
            fields |= {"priority": wanted.priority, "sla": sla}
            changes |= {"priority": str(wanted.priority), "previousPriority": str(ticket.priority)}
    current = change.ticket
    if wanted.category is not None and wanted.category is not current.category:
        fields["category"] = changes["category"] = wanted.category
    if wanted.subcategory is not None and (wanted.subcategory or None) != current.subcategory:
        fields["subcategory"] = changes["subcategory"] = wanted.subcategory or None
    if wanted.tags is not None and clean_tags(wanted.tags) != current.tags:
        fields["tags"] = changes["tags"] = clean_tags(wanted.tags)
    if not fields:
        return change
    return change.then(_updated(current, now, fields, changes, wanted.reason))


def _rank(priority: Priority) -> int:
    return PRIORITY_ORDER.index(priority)


def _updated(
    ticket: Ticket,
    now: datetime,
    fields: dict[str, object],
    changes: dict[str, object],
    reason: str | None,
) -> Change:
    updated = touched(ticket, now, **fields)
    wire = {key: str(value) if isinstance(value, str) else value for key, value in changes.items()}
    event = TicketUpdated(
        event_id=new_event_id(),
        occurred_at=now,
        ticket_id=ticket.ticket_id,
        ticket=summary(updated),
        changes={**wire, **({"reason": reason} if reason else {})},
    )
    return Change(updated, [event])
