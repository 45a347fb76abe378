"""Aggregate operations: each takes the ticket as read and `now`, returns the new state
plus the events it caused. Nothing here reads a clock, a database or a broker."""

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from contracts.enums import ActorType, TicketStatus
from contracts.events import TicketEvent, TicketStatusChanged
from contracts.sla import SlaPolicy
from contracts.tickets import StatusChange, Ticket, TicketSummary
from services.ticket_service.domain import sla as sla_math
from services.ticket_service.domain.lifecycle import check_transition


@dataclass(frozen=True, slots=True)
class ActorRef:
    """Who caused a change, resolved to ids (a customer's phone is already a customerId)."""

    type: ActorType
    id: str | None = None

    @classmethod
    def system(cls) -> "ActorRef":
        return cls(ActorType.SYSTEM)


@dataclass(slots=True)
class Change:
    """The ticket after an operation and the events to publish once it is committed."""

    ticket: Ticket
    events: list[TicketEvent] = field(default_factory=list)

    def then(self, other: "Change") -> "Change":
        return Change(other.ticket, [*self.events, *other.events])


def new_event_id() -> str:
    return uuid.uuid4().hex


def touched(ticket: Ticket, now: datetime, **updates: object) -> Ticket:
    """A copy with the updates applied, `updatedAt` moved and the revision bumped."""
    return ticket.model_copy(update={**updates, "updated_at": now, "revision": ticket.revision + 1})


def clean_tags(tags: Iterable[str]) -> list[str]:
    """Tags as the plan stores them: trimmed, lower-case; here also unique and sorted."""
    return sorted({tag.strip().lower() for tag in tags if tag.strip()})


def summary(ticket: Ticket) -> TicketSummary:
    return TicketSummary.of(ticket)


def _last_status_change_at(ticket: Ticket) -> datetime:
    return ticket.status_history[-1].timestamp if ticket.status_history else ticket.created_at


def _time_tracking(ticket: Ticket, now: datetime) -> dict[str, object]:
    spent = sla_math.to_ms(now - _last_status_change_at(ticket))
    if ticket.status is TicketStatus.IN_PROGRESS:
        return {"active_work_time": ticket.active_work_time + spent}
    if ticket.status is TicketStatus.PENDING_CUSTOMER:
        return {"customer_wait_time": ticket.customer_wait_time + spent}
    return {}


def _status_side_effects(
    ticket: Ticket,
    to: TicketStatus,
    by: ActorRef,
    now: datetime,
    policy: SlaPolicy,
    reason: str | None,
) -> dict[str, object]:
    """The fields a status brings with it (timestamps, SLA clock, reopen counters)."""
    sla = ticket.sla
    updates: dict[str, object] = {}
    if ticket.status is TicketStatus.PENDING_CUSTOMER:
        sla = sla_math.resume(sla, policy, now, ticket.created_at)
    if to is TicketStatus.PENDING_CUSTOMER:
        sla = sla_math.pause(sla, now)
    elif to is TicketStatus.RESOLVED:
        sla = sla_math.record_resolution(ticket.sla, policy, now)
        updates |= {
            "resolved_at": now,
            "resolved_by": by.id if by.type is ActorType.AGENT else None,
            "resolution_time": sla_math.to_ms(now - ticket.created_at),
        }
    elif to is TicketStatus.CLOSED:
        sla = sla.model_copy(update={"auto_close_due_at": None})
        updates |= {
            "closed_at": now,
            "closed_by": by.id,
            "closed_by_type": by.type,
            "close_reason": reason,
        }
    elif to is TicketStatus.REOPENED:
        sla = sla_math.restart_resolution(sla, policy, now, ticket.created_at)
        updates |= {
            "reopen_count": ticket.reopen_count + 1,
            "last_reopened_at": now,
            "last_reopened_by": by.id,
            "last_reopened_by_type": by.type,
        }
    elif to is TicketStatus.CANCELLED:
        sla = sla.model_copy(update={"paused_at": None})
    return {**updates, "sla": sla}


def change_status(
    ticket: Ticket,
    to: TicketStatus,
    by: ActorRef,
    now: datetime,
    policy: SlaPolicy,
    *,
    reason: str | None = None,
    automated: bool = False,
    resolution_notes: str | None = None,
) -> Change:
    """The only way a status moves: checked against the table, recorded, announced."""
    check_transition(ticket.status, to)
    entry = StatusChange(
        from_status=ticket.status,
        to_status=to,
        changed_by=by.id,
        changed_by_type=by.type,
        reason=reason,
        timestamp=now,
        automated=automated,
    )
    updates = _time_tracking(ticket, now) | _status_side_effects(
        ticket, to, by, now, policy, reason
    )
    if resolution_notes is not None:
        updates["resolution_notes"] = resolution_notes
    updated = touched(
        ticket,
        now,
        **updates,
        status=to,
        status_history=[*ticket.status_history, entry],
    )
    event = TicketStatusChanged(
        event_id=new_event_id(),
        occurred_at=now,
        ticket_id=ticket.ticket_id,
        ticket=summary(updated),
        old_status=ticket.status,
        new_status=to,
        changed_by=by.type,
        changed_by_id=by.id,
        reason=reason,
        automated=automated,
    )
    return Change(updated, [event])
