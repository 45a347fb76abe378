"""SLA breaches on the ticket, and the explanation of each clock (the `/sla` read model).

A breach is recorded once per kind: a second record of the same kind changes nothing, so
any number of sla_monitor replicas (or a retry after a crash) leave one record and one
`ticket.updated` event. Pure: `now` is passed in.
"""

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Literal

from pydantic import Field

from contracts.base import WireModel
from contracts.calendar import BusinessCalendar
from contracts.enums import Priority, SlaKind, TicketStatus
from contracts.events import TicketUpdated
from contracts.sla import SlaPolicy
from contracts.tickets import SlaBlock, Ticket
from services.ticket_service.domain import operations as ops
from services.ticket_service.domain.errors import Conflict, InvalidTransition
from services.ticket_service.domain.model import Change, new_event_id, summary, touched
from services.ticket_service.domain.sla import from_ms

STOPPED = frozenset({TicketStatus.RESOLVED, TicketStatus.CLOSED, TicketStatus.CANCELLED})
MAX_SEGMENTS = 500
"""A long-open ticket under a business-hours calendar has two segments a day: keep the
most recent ones."""

_BREACH_FIELD = {
    SlaKind.FIRST_RESPONSE: "first_response_breach_at",
    SlaKind.RESOLUTION: "resolution_breach_at",
}
_MET_FIELD = {SlaKind.FIRST_RESPONSE: "first_response_met", SlaKind.RESOLUTION: "resolution_met"}
_DUE_FIELD = {
    SlaKind.FIRST_RESPONSE: "first_response_due_at",
    SlaKind.RESOLUTION: "resolution_due_at",
}


def breach_at(sla: SlaBlock, kind: SlaKind) -> datetime | None:
    moment: datetime | None = getattr(sla, _BREACH_FIELD[kind])
    return moment


def due_at(sla: SlaBlock, kind: SlaKind) -> datetime | None:
    moment: datetime | None = getattr(sla, _DUE_FIELD[kind])
    return moment


def target_of(sla: SlaBlock, kind: SlaKind) -> timedelta:
    if kind is SlaKind.FIRST_RESPONSE:
        return from_ms(sla.first_response_target)
    return from_ms(sla.resolution_target)


def _check_still_running(ticket: Ticket, kind: SlaKind, detected_at: datetime) -> datetime:
    """The due time that passed; refuses a breach the ticket no longer has (a stale timer)."""
    sla = ticket.sla
    if ticket.status in STOPPED:
        raise InvalidTransition(
            ticket.status, None, (), f"The {kind} clock is stopped: the ticket is {ticket.status}"
        )
    if kind is SlaKind.FIRST_RESPONSE and sla.first_response_at is not None:
        raise InvalidTransition(ticket.status, None, (), "The first response was already given")
    if kind is SlaKind.RESOLUTION and sla.paused_at is not None:
        raise InvalidTransition(
            ticket.status, None, (), "The resolution clock is paused (pending_customer)"
        )
    due = due_at(sla, kind)
    if due is None or due > detected_at:
        raise Conflict(f"The {kind} due time moved to {due}; the breach does not apply yet")
    return due


def record_breach(
    ticket: Ticket,
    kind: SlaKind,
    detected_at: datetime,
    now: datetime,
    policy: SlaPolicy,
    *,
    escalate: bool = False,
) -> Change:
    """Mark the target missed (met=false, alert sent; the breach moment is the due time it
    passed) and, when asked, raise the priority one level in the same change. A breach
    already recorded is a no-op."""
    if breach_at(ticket.sla, kind) is not None:
        return Change(ticket)
    due = _check_still_running(ticket, kind, detected_at)
    reason = f"{kind} target of {target_of(ticket.sla, kind)} missed (due {due:%Y-%m-%dT%H:%M}Z)"
    sla = ticket.sla.model_copy(
        update={
            _BREACH_FIELD[kind]: due,
            _MET_FIELD[kind]: False,
            "breach_alert_sent": True,
            "breach_reason": reason,
        }
    )
    updated = touched(ticket, now, sla=sla)
    camel = "firstResponse" if kind is SlaKind.FIRST_RESPONSE else "resolution"
    changes: dict[str, object] = {
        f"sla.{camel}BreachAt": due.isoformat(),
        f"sla.{camel}Met": False,
        "sla.breachAlertSent": True,
        "sla.breachReason": reason,
    }
    event = TicketUpdated(
        event_id=new_event_id(),
        occurred_at=now,
        ticket_id=ticket.ticket_id,
        ticket=summary(updated),
        changes=changes,
    )
    change = Change(updated, [event])
    if escalate and ops.next_priority(updated.priority) is not None:
        change = change.then(
            ops.escalate(updated, now, policy, reason=f"SLA breach: {kind} target missed")
        )
    return change


# ---- explaining the clock ------------------------------------------------------------

SegmentState = Literal["running", "paused", "out_of_hours"]
ClockState = Literal["running", "paused", "out_of_hours", "stopped"]


class ClockSegment(WireModel):
    state: SegmentState
    start: datetime
    end: datetime
    reason: str | None = None


class TargetClock(WireModel):
    """One target's clock: where it stands now, its due time and how it got there."""

    kind: SlaKind
    state: ClockState = Field(description="What the clock is doing right now")
    outcome: Literal["met", "breached", "pending"]
    target_seconds: int
    started_at: datetime
    stopped_at: datetime | None = None
    due_at: datetime | None = Field(
        default=None, description="Null while paused: the due time moves by the paused time"
    )
    time_remaining_seconds: int | None = Field(
        default=None, description="Wall-clock seconds until the due time (running clocks)"
    )
    working_time_remaining_seconds: int | None = Field(
        default=None, description="Counted time left before the target is missed"
    )
    elapsed_seconds: int = Field(description="Counted time so far (running segments only)")
    paused_seconds: int = 0
    breached_at: datetime | None = None
    timeline: list[ClockSegment]
    truncated: bool = False


class SlaExplanation(WireModel):
    ticket_id: str
    status: TicketStatus
    priority: Priority
    as_of: datetime
    business_hours: bool = Field(description="Whether only working time counts")
    first_response: TargetClock
    resolution: TargetClock


type _Span = tuple[datetime, datetime, SegmentState, str | None]

_PAUSE_REASON = "waiting for the customer (pending_customer)"
_OUT_OF_HOURS_REASON = "outside business hours"


def _status_at(ticket: Ticket, moment: datetime) -> TicketStatus:
    current = TicketStatus.NEW
    for entry in ticket.status_history:
        if entry.timestamp > moment:
            break
        current = entry.to_status
    return current


def _raw_spans(
    ticket: Ticket, kind: SlaKind, start: datetime, now: datetime
) -> tuple[list[_Span], datetime | None]:
    """Running/paused spans from `start`, following the status history; and the stop."""
    spans: list[_Span] = []
    status, since = _status_at(ticket, start), start
    stop: datetime | None = None
    if kind is SlaKind.FIRST_RESPONSE and ticket.sla.first_response_at is not None:
        stop = ticket.sla.first_response_at
    later = [e for e in ticket.status_history if e.timestamp > start]
    for entry in [*later, None]:
        until = now if entry is None else entry.timestamp
        if stop is not None:
            until = min(until, stop)
        if status in STOPPED:
            stop = since if stop is None else min(stop, since)
            break
        paused = kind is SlaKind.RESOLUTION and status is TicketStatus.PENDING_CUSTOMER
        if until > since:
            spans.append(
                (since, until, "paused", _PAUSE_REASON)
                if paused
                else (since, until, "running", None)
            )
        if entry is None or (stop is not None and entry.timestamp >= stop):
            break
        status, since = entry.to_status, entry.timestamp
    return spans, stop


def _split_by_hours(spans: Iterable[_Span], calendar: BusinessCalendar | None) -> list[_Span]:
    if calendar is None:
        return list(spans)
    result: list[_Span] = []
    for start, end, state, reason in spans:
        if state != "running":
            result.append((start, end, state, reason))
            continue
        cursor = start
        for work_start, work_end in calendar.working_spans(start, end):
            if work_start > cursor:
                result.append((cursor, work_start, "out_of_hours", _OUT_OF_HOURS_REASON))
            result.append((work_start, work_end, "running", None))
            cursor = work_end
        if cursor < end:
            result.append((cursor, end, "out_of_hours", _OUT_OF_HOURS_REASON))
    return result


def _merge(spans: list[_Span]) -> list[_Span]:
    merged: list[_Span] = []
    for span in spans:
        if merged and merged[-1][1] == span[0] and merged[-1][2:] == span[2:]:
            merged[-1] = (merged[-1][0], span[1], span[2], span[3])
        else:
            merged.append(span)
    return merged


def _total(spans: list[_Span], state: SegmentState) -> timedelta:
    return sum((end - start for start, end, s, _ in spans if s == state), timedelta(0))


def _clock(ticket: Ticket, kind: SlaKind, now: datetime, policy: SlaPolicy) -> TargetClock:
    sla = ticket.sla
    start = ticket.created_at
    if kind is SlaKind.RESOLUTION:
        start = sla.resolution_cycle_started_at or ticket.created_at
    raw, stop = _raw_spans(ticket, kind, start, now)
    spans = _merge(_split_by_hours(raw, policy.business_hours))
    target = target_of(sla, kind)
    elapsed = _total(spans, "running")
    recorded = breach_at(sla, kind)
    due = due_at(sla, kind)
    met: bool | None = getattr(sla, _MET_FIELD[kind])
    state: ClockState = "stopped" if stop is not None else (spans[-1][2] if spans else "running")
    breached = recorded or (due if due is not None and due <= now and stop is None else None)
    outcome: Literal["met", "breached", "pending"] = (
        "breached" if breached is not None else ("met" if met else "pending")
    )
    running = stop is None and outcome == "pending"
    remaining = max(target - elapsed, timedelta(0))
    return TargetClock(
        kind=kind,
        state=state,
        outcome=outcome,
        target_seconds=int(target.total_seconds()),
        started_at=start,
        stopped_at=stop,
        due_at=due if stop is None else None,
        time_remaining_seconds=(
            max(int((due - now).total_seconds()), 0) if running and due is not None else None
        ),
        working_time_remaining_seconds=int(remaining.total_seconds()) if running else None,
        elapsed_seconds=int(elapsed.total_seconds()),
        paused_seconds=int(_total(spans, "paused").total_seconds()),
        breached_at=breached,
        timeline=[
            ClockSegment(state=s, start=a, end=b, reason=r) for a, b, s, r in spans[-MAX_SEGMENTS:]
        ],
        truncated=len(spans) > MAX_SEGMENTS,
    )


def explain(ticket: Ticket, now: datetime, policy: SlaPolicy) -> SlaExplanation:
    """Each target's timeline (running, paused with reason, out of hours), its due time,
    the time remaining or the breach moment, as of `now`."""
    return SlaExplanation(
        ticket_id=ticket.ticket_id,
        status=ticket.status,
        priority=ticket.priority,
        as_of=now,
        business_hours=policy.business_hours is not None,
        first_response=_clock(ticket, SlaKind.FIRST_RESPONSE, now, policy),
        resolution=_clock(ticket, SlaKind.RESOLUTION, now, policy),
    )
