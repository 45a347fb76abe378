"""Timer planning (pure): which timers a ticket needs, and how a stored timer follows."""

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from contracts.calendar import BusinessCalendar
from contracts.enums import Category, Channel, Priority, Source, TicketStatus
from contracts.sla import SlaPolicy
from contracts.tickets import SlaBlock, TicketSummary
from services.sla_monitor.domain.timers import (
    PlanningRules,
    StoredTimer,
    TimerKind,
    TimerState,
    WantedTimer,
    decide,
    elapsed,
    event_id,
    wanted_timers,
    warning_superseded,
)

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)  # a Monday
HOUR = timedelta(hours=1)


def summary(
    status: TicketStatus = TicketStatus.NEW, priority: Priority = Priority.HIGH, **sla: Any
) -> TicketSummary:
    target = SlaPolicy().target(priority)
    block = {
        "first_response_target": int(target.first_response.total_seconds() * 1000),
        "resolution_target": int(target.resolution.total_seconds() * 1000),
        "first_response_due_at": T0 + target.first_response,
        "first_response_warning_at": T0 + target.first_response * 0.8,
        "resolution_due_at": T0 + target.resolution,
        "resolution_warning_at": T0 + target.resolution * 0.8,
        "resolution_cycle_started_at": T0,
    } | sla
    return TicketSummary(
        ticket_id="TICKET-2026-000001",
        title="Order not delivered",
        status=status,
        priority=priority,
        category=Category.SUPPORT,
        customer_id="c" * 24,
        source=Source.AI,
        channel=Channel.WHATSAPP,
        created_at=T0,
        revision=1,
        sla=SlaBlock.model_validate(block),
        resolved_at=sla.get("auto_close_due_at") and T0 + 2 * HOUR,
    )


def dues(plan: dict[TimerKind, WantedTimer | None]) -> dict[TimerKind, datetime]:
    return {kind: timer.due_at for kind, timer in plan.items() if timer is not None}


def test_a_new_ticket_gets_both_warnings_and_both_breaches() -> None:
    plan = wanted_timers(summary(), PlanningRules())
    assert dues(plan) == {
        TimerKind.FIRST_RESPONSE_WARNING: T0 + 48 * timedelta(minutes=1),
        TimerKind.FIRST_RESPONSE_BREACH: T0 + HOUR,
        TimerKind.RESOLUTION_WARNING: T0 + 24 * HOUR * 0.8,
        TimerKind.RESOLUTION_BREACH: T0 + 24 * HOUR,
    }
    breach = plan[TimerKind.FIRST_RESPONSE_BREACH]
    assert breach is not None
    assert breach.target_seconds == 3600


def test_a_first_response_ends_the_first_response_timers() -> None:
    plan = wanted_timers(summary(first_response_at=T0 + HOUR / 2), PlanningRules())
    assert set(dues(plan)) == {TimerKind.RESOLUTION_WARNING, TimerKind.RESOLUTION_BREACH}


def test_pending_customer_has_no_resolution_due_so_its_timers_are_cancelled() -> None:
    paused = summary(
        TicketStatus.PENDING_CUSTOMER,
        paused_at=T0 + HOUR,
        resolution_due_at=None,
        resolution_warning_at=None,
    )
    assert set(dues(wanted_timers(paused, PlanningRules()))) == {
        TimerKind.FIRST_RESPONSE_WARNING,
        TimerKind.FIRST_RESPONSE_BREACH,
    }


@pytest.mark.parametrize("status", [TicketStatus.CLOSED, TicketStatus.CANCELLED])
def test_a_closed_or_cancelled_ticket_needs_no_timer(status: TicketStatus) -> None:
    assert dues(wanted_timers(summary(status), PlanningRules())) == {}


def test_a_resolved_ticket_only_waits_to_auto_close() -> None:
    resolved = summary(TicketStatus.RESOLVED, auto_close_due_at=T0 + 26 * HOUR)
    assert dues(wanted_timers(resolved, PlanningRules())) == {TimerKind.AUTO_CLOSE: T0 + 26 * HOUR}
    assert dues(wanted_timers(resolved, PlanningRules(auto_close=False))) == {}


def test_recorded_breaches_and_disabled_warnings_plan_nothing_more() -> None:
    breached = summary(first_response_breach_at=T0 + HOUR, resolution_breach_at=T0 + 24 * HOUR)
    assert dues(wanted_timers(breached, PlanningRules())) == {}
    assert set(dues(wanted_timers(summary(), PlanningRules(warnings=False)))) == {
        TimerKind.FIRST_RESPONSE_BREACH,
        TimerKind.RESOLUTION_BREACH,
    }


FRIDAY_18 = datetime(2026, 12, 4, 18, 0, tzinfo=UTC)
CALENDAR = BusinessCalendar.weekdays(holidays=[date(2026, 12, 7)])


@pytest.mark.parametrize(
    ("priority", "expected"),
    [
        (Priority.HIGH, datetime(2026, 12, 8, 9, 0, tzinfo=UTC)),  # after weekend + holiday
        (Priority.URGENT, FRIDAY_18),  # urgent warnings go out at any hour
    ],
)
def test_an_out_of_hours_warning_waits_for_working_time_unless_urgent(
    priority: Priority, expected: datetime
) -> None:
    ticket = summary(
        priority=priority,
        first_response_warning_at=FRIDAY_18,
        first_response_due_at=datetime(2026, 12, 8, 9, 12, tzinfo=UTC),
    )
    plan = dues(wanted_timers(ticket, PlanningRules(calendar=CALENDAR)))
    assert plan[TimerKind.FIRST_RESPONSE_WARNING] == expected


def test_a_warning_deferred_past_its_breach_is_not_planned() -> None:
    ticket = summary(
        first_response_warning_at=FRIDAY_18,
        first_response_due_at=datetime(2026, 12, 8, 9, 0, tzinfo=UTC),
    )
    plan = dues(wanted_timers(ticket, PlanningRules(calendar=CALENDAR)))
    assert TimerKind.FIRST_RESPONSE_WARNING not in plan


WANT = WantedTimer(T0 + HOUR, T0 + HOUR, 3600, "cycle-1")


def stored(state: TimerState, revision: int = 3, cycle: str = "cycle-1") -> StoredTimer:
    return StoredTimer(state, T0 + HOUR, cycle, revision)


def test_decide_creates_and_ignores_what_is_not_needed() -> None:
    created = decide(None, WANT, 1)
    assert created is not None
    assert (created.state, created.timer) == (TimerState.PENDING, WANT)
    assert decide(None, None, 1) is None


@pytest.mark.parametrize("revision", [2, 3])
def test_an_older_or_repeated_revision_never_overwrites(revision: int) -> None:
    for state in TimerState:
        assert decide(stored(state), None, revision) is None
        assert decide(stored(state), WANT, revision) is None


@pytest.mark.parametrize(
    ("state", "after"),
    [
        (TimerState.PENDING, TimerState.CANCELLED),
        (TimerState.FIRING, TimerState.FIRING),
        (TimerState.FIRED, TimerState.FIRED),
        (TimerState.CANCELLED, TimerState.CANCELLED),
        (TimerState.DROPPED, TimerState.DROPPED),
    ],
)
def test_cancelling_only_touches_pending_timers(state: TimerState, after: TimerState) -> None:
    write = decide(stored(state), None, 4)
    assert write is not None
    assert (write.state, write.revision, write.timer) == (after, 4, None)


def test_a_fired_timer_stays_fired_within_its_cycle_and_rearms_in_a_new_one() -> None:
    later = WantedTimer(T0 + 2 * HOUR, T0 + 2 * HOUR, 3600, "cycle-1")
    same_cycle = decide(stored(TimerState.FIRED), later, 4)
    assert same_cycle is not None
    assert (same_cycle.state, same_cycle.timer) == (TimerState.FIRED, None)
    new_cycle = WantedTimer(T0 + 30 * HOUR, T0 + 30 * HOUR, 3600, "cycle-2")
    rearmed = decide(stored(TimerState.FIRED), new_cycle, 4)
    assert rearmed is not None
    assert (rearmed.state, rearmed.timer) == (TimerState.PENDING, new_cycle)


@pytest.mark.parametrize("state", [TimerState.PENDING, TimerState.CANCELLED, TimerState.DROPPED])
def test_a_moved_due_time_is_taken_over(state: TimerState) -> None:
    moved = WantedTimer(T0 + 5 * HOUR, T0 + 5 * HOUR, 3600, "cycle-1")
    write = decide(stored(state), moved, 4)
    assert write is not None
    assert (write.state, write.timer) == (TimerState.PENDING, moved)


def test_event_ids_are_stable_per_ticket_kind_and_cycle() -> None:
    first = event_id("TICKET-2026-000001", TimerKind.RESOLUTION_BREACH, "c1")
    assert first == event_id("TICKET-2026-000001", TimerKind.RESOLUTION_BREACH, "c1")
    assert first != event_id("TICKET-2026-000001", TimerKind.RESOLUTION_BREACH, "c2")
    assert first != event_id("TICKET-2026-000001", TimerKind.RESOLUTION_WARNING, "c1")


def test_elapsed_counts_working_time_around_the_due() -> None:
    due = T0 + 4 * HOUR
    assert elapsed(4 * HOUR, due, due, None) == 4 * HOUR
    assert elapsed(4 * HOUR, due, due - HOUR, None) == 3 * HOUR
    assert elapsed(4 * HOUR, due, due + HOUR, None) == 5 * HOUR
    friday_17 = FRIDAY_18 - HOUR
    monday_10 = datetime(2026, 12, 8, 10, 0, tzinfo=UTC)  # the holiday is skipped
    assert elapsed(HOUR, friday_17, monday_10, CALENDAR) == 3 * HOUR


def test_a_warning_whose_breach_is_due_is_superseded() -> None:
    assert warning_superseded(TimerKind.FIRST_RESPONSE_WARNING, T0, T0)
    assert not warning_superseded(TimerKind.FIRST_RESPONSE_WARNING, T0, T0 - HOUR)
    assert not warning_superseded(TimerKind.FIRST_RESPONSE_BREACH, T0, T0 + HOUR)
