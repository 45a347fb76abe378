"""Timer planning: from the due times a ticket event carries to the timers that must exist.

One timer per (ticket, kind). Events may arrive twice or out of order, so every write
names the ticket revision it was planned from and an older revision never overwrites a
newer plan. A timer that fired stays fired for its cycle (the ticket's life for the
first response, one resolution cycle, one resolve for auto-close), so a warning or a
breach is announced once per cycle however many events repeat the same due time.
Pure: no clock reads, no I/O.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from contracts.calendar import BusinessCalendar, working_time_between
from contracts.enums import Priority, SlaKind, TicketStatus
from contracts.tickets import TicketSummary


class TimerKind(StrEnum):
    FIRST_RESPONSE_WARNING = "first_response_warning"
    FIRST_RESPONSE_BREACH = "first_response_breach"
    RESOLUTION_WARNING = "resolution_warning"
    RESOLUTION_BREACH = "resolution_breach"
    AUTO_CLOSE = "auto_close"


class TimerState(StrEnum):
    PENDING = "pending"
    FIRING = "firing"
    """Claimed by one scanner; another takes it over only once the lease has run out."""
    FIRED = "fired"
    CANCELLED = "cancelled"
    DROPPED = "dropped"
    """The ticket refused the action (responded, paused, reopened...): nothing announced."""


SLA_KIND: dict[TimerKind, SlaKind] = {
    TimerKind.FIRST_RESPONSE_WARNING: SlaKind.FIRST_RESPONSE,
    TimerKind.FIRST_RESPONSE_BREACH: SlaKind.FIRST_RESPONSE,
    TimerKind.RESOLUTION_WARNING: SlaKind.RESOLUTION,
    TimerKind.RESOLUTION_BREACH: SlaKind.RESOLUTION,
}
WARNINGS = frozenset({TimerKind.FIRST_RESPONSE_WARNING, TimerKind.RESOLUTION_WARNING})
BREACHES = frozenset({TimerKind.FIRST_RESPONSE_BREACH, TimerKind.RESOLUTION_BREACH})
STOPPED = frozenset({TicketStatus.RESOLVED, TicketStatus.CLOSED, TicketStatus.CANCELLED})
_EVENT_NAMESPACE = uuid.UUID("7d0c3f2e-5b1a-4c8e-9f60-2a4e0b9d1c55")


@dataclass(frozen=True, slots=True)
class WantedTimer:
    """A timer the ticket's current state calls for."""

    due_at: datetime
    target_due_at: datetime
    """The target's own due time (a warning fires before it; a breach at it)."""
    target_seconds: int
    cycle: str


@dataclass(frozen=True, slots=True)
class PlanningRules:
    calendar: BusinessCalendar | None = None
    warnings: bool = True
    auto_close: bool = True


def _warning_moment(
    warning_at: datetime, priority: Priority, calendar: BusinessCalendar | None
) -> datetime:
    """Warnings wait for working time unless the ticket is urgent."""
    if calendar is None or priority is Priority.URGENT:
        return warning_at
    return calendar.next_working_moment(warning_at)


def _target_timers(
    warning_at: datetime | None,
    due_at: datetime | None,
    target_ms: int,
    cycle: str,
    priority: Priority,
    rules: PlanningRules,
) -> tuple[WantedTimer | None, WantedTimer | None]:
    if due_at is None:
        return None, None
    seconds = target_ms // 1000
    breach = WantedTimer(due_at, due_at, seconds, cycle)
    if not rules.warnings or warning_at is None:
        return None, breach
    moment = _warning_moment(warning_at, priority, rules.calendar)
    warning = WantedTimer(moment, due_at, seconds, cycle) if moment < due_at else None
    return warning, breach


def wanted_timers(
    ticket: TicketSummary, rules: PlanningRules
) -> dict[TimerKind, WantedTimer | None]:
    """Every kind, with the timer it needs now or None (cancel it)."""
    sla, running = ticket.sla, ticket.status not in STOPPED
    wanted: dict[TimerKind, WantedTimer | None] = dict.fromkeys(TimerKind)
    if running and sla.first_response_at is None and sla.first_response_breach_at is None:
        warning, breach = _target_timers(
            sla.first_response_warning_at,
            sla.first_response_due_at,
            sla.first_response_target,
            ticket.created_at.isoformat(),
            ticket.priority,
            rules,
        )
        wanted[TimerKind.FIRST_RESPONSE_WARNING] = warning
        wanted[TimerKind.FIRST_RESPONSE_BREACH] = breach
    if running and sla.resolution_breach_at is None and sla.paused_at is None:
        cycle = (sla.resolution_cycle_started_at or ticket.created_at).isoformat()
        warning, breach = _target_timers(
            sla.resolution_warning_at,
            sla.resolution_due_at,
            sla.resolution_target,
            cycle,
            ticket.priority,
            rules,
        )
        wanted[TimerKind.RESOLUTION_WARNING] = warning
        wanted[TimerKind.RESOLUTION_BREACH] = breach
    close_at = sla.auto_close_due_at
    if rules.auto_close and ticket.status is TicketStatus.RESOLVED and close_at is not None:
        cycle = (ticket.resolved_at or close_at).isoformat()
        wanted[TimerKind.AUTO_CLOSE] = WantedTimer(close_at, close_at, 0, cycle)
    return wanted


@dataclass(frozen=True, slots=True)
class StoredTimer:
    state: TimerState
    due_at: datetime
    cycle: str
    revision: int


@dataclass(frozen=True, slots=True)
class TimerWrite:
    """What to store for one timer; `timer` None keeps the stored due time and cycle."""

    state: TimerState
    revision: int
    timer: WantedTimer | None = None


def decide(
    existing: StoredTimer | None, wanted: WantedTimer | None, revision: int
) -> TimerWrite | None:
    """The write that brings a stored timer in line with the plan of `revision`, or None."""
    if existing is None:
        return None if wanted is None else TimerWrite(TimerState.PENDING, revision, wanted)
    if existing.revision >= revision:
        return None  # a duplicate or an older event: the stored plan is as new or newer
    if wanted is None:
        state = TimerState.CANCELLED if existing.state is TimerState.PENDING else existing.state
        return TimerWrite(state, revision)
    done = existing.state in (TimerState.FIRED, TimerState.FIRING)
    if done and existing.cycle == wanted.cycle:
        return TimerWrite(existing.state, revision)
    return TimerWrite(TimerState.PENDING, revision, wanted)


def timer_id(ticket_id: str, kind: TimerKind) -> str:
    return f"{ticket_id}:{kind}"


def event_id(ticket_id: str, kind: TimerKind, cycle: str) -> str:
    """The same alert always gets the same id, so a retried publish deduplicates."""
    return uuid.uuid5(_EVENT_NAMESPACE, f"{ticket_id}|{kind}|{cycle}").hex


def elapsed(
    target: timedelta, target_due_at: datetime, now: datetime, calendar: BusinessCalendar | None
) -> timedelta:
    """Counted time since the clock started, derived from where `now` lies against the due."""
    if now <= target_due_at:
        return max(target - working_time_between(calendar, now, target_due_at), timedelta(0))
    return target + working_time_between(calendar, target_due_at, now)


def warning_superseded(kind: TimerKind, target_due_at: datetime, now: datetime) -> bool:
    """A warning whose breach is already due says nothing the breach will not."""
    return kind in WARNINGS and target_due_at <= now
