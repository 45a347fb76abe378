"""The other ticket operations: open, assign, notes, first response, rating, escalation,
the agent's first view and the customer's messages. Same shape as `change_status`."""

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from contracts.enums import (
    PRIORITY_ORDER,
    ActorType,
    Category,
    Channel,
    Priority,
    Source,
    TicketStatus,
)
from contracts.events import (
    TicketAssigned,
    TicketCreated,
    TicketNoteAdded,
    TicketPriorityEscalated,
    TicketUnassigned,
    TicketUpdated,
)
from contracts.sla import SlaPolicy
from contracts.tickets import (
    Assignment,
    CustomerSatisfaction,
    InternalNote,
    StatusChange,
    Ticket,
)
from services.ticket_service.domain import sla as sla_math
from services.ticket_service.domain.csat import rated_this_cycle
from services.ticket_service.domain.errors import AlreadyRated, InvalidTransition
from services.ticket_service.domain.lifecycle import (
    ALLOWED_TRANSITIONS,
    path_to_in_progress,
)
from services.ticket_service.domain.model import (
    ActorRef,
    Change,
    change_status,
    clean_tags,
    new_event_id,
    summary,
    touched,
)

ASSIGNABLE = frozenset(
    {
        TicketStatus.NEW,
        TicketStatus.OPEN,
        TicketStatus.REOPENED,
        TicketStatus.IN_PROGRESS,
        TicketStatus.PENDING_CUSTOMER,
    }
)
RATEABLE = frozenset({TicketStatus.RESOLVED, TicketStatus.CLOSED})


@dataclass(frozen=True, slots=True)
class NewTicket:
    ticket_id: str
    title: str
    description: str
    customer_id: str
    category: Category
    priority: Priority
    source: Source
    channel: Channel
    conversation_id: str | None = None
    idempotency_key: str | None = None
    subcategory: str | None = None
    tags: tuple[str, ...] = ()
    related_tickets: tuple[str, ...] = ()


def open_ticket(data: NewTicket, by: ActorRef, now: datetime, policy: SlaPolicy) -> Change:
    ticket = Ticket(
        ticket_id=data.ticket_id,
        title=data.title,
        description=data.description,
        customer_id=data.customer_id,
        conversation_id=data.conversation_id,
        category=data.category,
        priority=data.priority,
        source=data.source,
        ai_generated=data.source is Source.AI,
        channel=data.channel,
        idempotency_key=data.idempotency_key,
        subcategory=data.subcategory,
        tags=clean_tags(data.tags),
        related_tickets=list(data.related_tickets),
        sla=sla_math.initial_sla(policy, data.priority, now),
        status_history=[
            StatusChange(
                to_status=TicketStatus.NEW,
                changed_by=by.id,
                changed_by_type=by.type,
                reason="created",
                timestamp=now,
            )
        ],
        created_at=now,
        updated_at=now,
    )
    created = TicketCreated(
        event_id=new_event_id(), occurred_at=now, ticket_id=ticket.ticket_id, ticket=summary(ticket)
    )
    return Change(ticket, [created])


def taken_at_creation(
    opened: Change, agent_id: str, by: ActorRef, now: datetime, policy: SlaPolicy
) -> Change:
    """An agent's own new ticket, assigned in the same insert. `ticket.created` then
    describes the ticket as committed (assignee included), so its push reaches only those
    who may read it, not the whole pool."""
    change = opened.then(assign(opened.ticket, agent_id, by, now, policy, "created by agent"))
    created, *rest = change.events
    restamped = created.model_copy(update={"ticket": summary(change.ticket)})
    return Change(change.ticket, [restamped, *rest])


def _not_allowed(ticket: Ticket, what: str) -> InvalidTransition:
    return InvalidTransition(
        ticket.status,
        None,
        ALLOWED_TRANSITIONS[ticket.status],
        f"Cannot {what} a ticket in status {ticket.status}",
    )


def assign(
    ticket: Ticket,
    agent_id: str,
    by: ActorRef,
    now: datetime,
    policy: SlaPolicy,
    reason: str | None = None,
) -> Change:
    """Give the ticket to an agent; from new/open/reopened this also starts the work."""
    if ticket.status not in ASSIGNABLE:
        raise _not_allowed(ticket, "assign")
    if ticket.assigned_agent == agent_id:
        return Change(ticket)
    history = _release(ticket.assignment_history, now, "reassigned")
    history.append(Assignment(agent=agent_id, assigned_at=now, reason=reason or "assigned"))
    updated = touched(ticket, now, assigned_agent=agent_id, assignment_history=history)
    change = Change(
        updated,
        [
            TicketAssigned(
                event_id=new_event_id(),
                occurred_at=now,
                ticket_id=ticket.ticket_id,
                ticket=summary(updated),
                agent_id=agent_id,
                previous_agent_id=ticket.assigned_agent,
            )
        ],
    )
    for step in path_to_in_progress(ticket.status):
        moved = change_status(
            change.ticket,
            step,
            by,
            now,
            policy,
            reason=f"assigned to {agent_id}",
            automated=True,
        )
        change = change.then(moved)
    return change


def _release(history: list[Assignment], now: datetime, reason: str) -> list[Assignment]:
    released = list(history)
    if released and released[-1].released_at is None:
        released[-1] = released[-1].model_copy(update={"released_at": now, "reason": reason})
    return released


def unassign(ticket: Ticket, now: datetime, reason: str | None = None) -> Change:
    """Back to the pool. The status stays: the lifecycle table has no in_progress -> open."""
    previous = ticket.assigned_agent
    if previous is None:
        raise _not_allowed(ticket, "unassign an unassigned")
    history = _release(ticket.assignment_history, now, reason or "unassigned")
    updated = touched(ticket, now, assigned_agent=None, assignment_history=history)
    event = TicketUnassigned(
        event_id=new_event_id(),
        occurred_at=now,
        ticket_id=ticket.ticket_id,
        ticket=summary(updated),
        previous_agent_id=previous,
        reason=reason,
    )
    return Change(updated, [event])


def add_note(
    ticket: Ticket, note_id: str, content: str, by: ActorRef, now: datetime, *, is_visible: bool
) -> Change:
    by_customer = by.type is ActorType.CUSTOMER
    note = InternalNote(
        note_id=note_id,
        agent=None if by_customer else by.id,
        author_type=by.type,
        content=content,
        timestamp=now,
        is_visible=is_visible or by_customer,
    )
    updated = touched(ticket, now, internal_notes=[*ticket.internal_notes, note])
    event = TicketNoteAdded(
        event_id=new_event_id(),
        occurred_at=now,
        ticket_id=ticket.ticket_id,
        ticket=summary(updated),
        note_id=note_id,
        agent_id=by.id,
        is_visible=is_visible,
    )
    return Change(updated, [event])


def _updated(ticket: Ticket, now: datetime, changes: dict[str, object], **fields: object) -> Change:
    updated = touched(ticket, now, **fields)
    event = TicketUpdated(
        event_id=new_event_id(),
        occurred_at=now,
        ticket_id=ticket.ticket_id,
        ticket=summary(updated),
        changes=changes,
    )
    return Change(updated, [event])


def mark_first_response(ticket: Ticket, now: datetime, at: datetime | None = None) -> Change:
    """Idempotent: the first call records the time (`at`, when the response was given,
    `now` by default) and whether the target was met."""
    if ticket.sla.first_response_at is not None:
        return Change(ticket)
    responded = at or now
    sla = sla_math.record_first_response(ticket.sla, responded)
    response_time = sla_math.to_ms(responded - ticket.created_at)
    changes: dict[str, object] = {
        "firstResponseAt": responded.isoformat(),
        "firstResponseMet": sla.first_response_met,
        "firstResponseTime": response_time,
    }
    return _updated(ticket, now, changes, sla=sla, first_response_time=response_time)


def rate(ticket: Ticket, rating: int, comment: str | None, now: datetime) -> Change:
    """Once per resolution: a ticket reopened and resolved again can be rated again."""
    if ticket.status not in RATEABLE:
        raise _not_allowed(ticket, "rate")
    if rated_this_cycle(ticket) and ticket.customer_satisfaction is not None:
        given = ticket.customer_satisfaction.rating
        raise AlreadyRated(f"Ticket {ticket.ticket_id} was already rated {given}")
    satisfaction = CustomerSatisfaction(rating=rating, comment=comment, submitted_at=now)
    changes: dict[str, object] = {"customerSatisfaction": satisfaction.to_wire()}
    return _updated(ticket, now, changes, customer_satisfaction=satisfaction)


def next_priority(current: Priority) -> Priority | None:
    position = PRIORITY_ORDER.index(current)
    return PRIORITY_ORDER[position + 1] if position + 1 < len(PRIORITY_ORDER) else None


def escalate(
    ticket: Ticket,
    now: datetime,
    policy: SlaPolicy,
    target: Priority | None = None,
    reason: str | None = None,
) -> Change:
    """Raise the priority (one level by default) and re-plan the due times."""
    new = target or next_priority(ticket.priority)
    if ticket.status in (TicketStatus.CLOSED, TicketStatus.CANCELLED):
        raise _not_allowed(ticket, "escalate")
    if new is None or PRIORITY_ORDER.index(new) <= PRIORITY_ORDER.index(ticket.priority):
        raise _not_allowed(ticket, f"escalate from {ticket.priority} to {new or 'above urgent'}")
    sla = sla_math.retarget(ticket.sla, policy, new, ticket.created_at)
    updated = touched(ticket, now, priority=new, sla=sla)
    event = TicketPriorityEscalated(
        event_id=new_event_id(),
        occurred_at=now,
        ticket_id=ticket.ticket_id,
        ticket=summary(updated),
        old_priority=ticket.priority,
        new_priority=new,
        reason=reason,
    )
    return Change(updated, [event])


def first_view_by_agent(
    ticket: Ticket, agent_id: str, now: datetime, policy: SlaPolicy
) -> Change | None:
    """new -> open the first time an agent looks at the ticket."""
    if ticket.status is not TicketStatus.NEW:
        return None
    by = ActorRef(ActorType.AGENT, agent_id)
    return change_status(
        ticket, TicketStatus.OPEN, by, now, policy, reason="first viewed by agent", automated=True
    )


CustomerMessageAction = Literal["resumed", "reopened", "follow_up", "none"]


def customer_message_action(
    ticket: Ticket, now: datetime, policy: SlaPolicy
) -> CustomerMessageAction:
    """What a message from the ticket's customer does to it, by the lifecycle rules."""
    match ticket.status:
        case TicketStatus.PENDING_CUSTOMER:
            return "resumed"
        case TicketStatus.RESOLVED:
            return "reopened"
        case TicketStatus.CLOSED:
            closed_at = ticket.closed_at or ticket.updated_at
            return "reopened" if now - closed_at <= policy.reopen_window else "follow_up"
        case _:
            return "none"


def react_to_customer_message(
    ticket: Ticket, customer: ActorRef, now: datetime, policy: SlaPolicy
) -> Change | None:
    action = customer_message_action(ticket, now, policy)
    if action == "resumed":
        to = TicketStatus.IN_PROGRESS
    elif action == "reopened":
        to = TicketStatus.REOPENED
    else:
        return None
    change = change_status(
        ticket, to, customer, now, policy, reason="customer replied", automated=True
    )
    change.ticket = change.ticket.model_copy(update={"last_customer_message_at": now})
    return change
