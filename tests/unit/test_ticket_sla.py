"""SLA due-time math of the ticket service: pause/resume, business hours, met flags."""

from datetime import UTC, date, datetime, timedelta

from contracts.calendar import BusinessCalendar
from contracts.enums import ActorType, Priority, TicketStatus
from contracts.sla import SlaPolicy, SlaTarget
from contracts.tickets import Ticket
from services.ticket_service.domain import sla as sla_math
from services.ticket_service.domain.model import ActorRef, change_status

AGENT = ActorRef(ActorType.AGENT, "a" * 24)
MONDAY_9 = datetime(2026, 12, 21, 9, 0, tzinfo=UTC)


def working_ticket(policy: SlaPolicy, priority: Priority, created: datetime) -> Ticket:
    return Ticket(
        ticket_id="TICKET-2026-000001",
        title="Invoice is wrong",
        description="I was charged twice this month.",
        customer_id="c" * 24,
        status=TicketStatus.IN_PROGRESS,
        priority=priority,
        sla=sla_math.initial_sla(policy, priority, created),
        created_at=created,
        updated_at=created,
    )


def test_default_targets_per_priority() -> None:
    policy = SlaPolicy()
    expected = {
        Priority.URGENT: (timedelta(minutes=15), timedelta(hours=4)),
        Priority.HIGH: (timedelta(hours=1), timedelta(hours=24)),
        Priority.MEDIUM: (timedelta(hours=4), timedelta(days=3)),
        Priority.LOW: (timedelta(hours=24), timedelta(days=7)),
    }
    for priority, (first, resolution) in expected.items():
        sla = sla_math.initial_sla(policy, priority, MONDAY_9)
        assert sla.first_response_due_at == MONDAY_9 + first
        assert sla.resolution_due_at == MONDAY_9 + resolution
        assert sla.first_response_target == first.total_seconds() * 1000


def test_a_pause_shifts_the_resolution_due_time_by_exactly_the_paused_time() -> None:
    policy = SlaPolicy()
    ticket = working_ticket(policy, Priority.HIGH, MONDAY_9)
    paused_at = MONDAY_9 + timedelta(hours=3)
    paused = change_status(ticket, TicketStatus.PENDING_CUSTOMER, AGENT, paused_at, policy)
    assert paused.ticket.sla.resolution_due_at is None
    assert paused.ticket.sla.paused_at == paused_at
    resumed_at = paused_at + timedelta(hours=5, minutes=17)
    resumed = change_status(
        paused.ticket, TicketStatus.IN_PROGRESS, AGENT, resumed_at, policy
    ).ticket
    assert resumed.sla.paused_at is None
    assert resumed.sla.paused_total == (5 * 60 + 17) * 60_000
    assert resumed.sla.resolution_due_at == MONDAY_9 + timedelta(hours=24 + 5, minutes=17)
    assert resumed.sla.first_response_due_at == MONDAY_9 + timedelta(hours=1)


def test_two_pauses_add_up() -> None:
    policy = SlaPolicy()
    ticket = working_ticket(policy, Priority.URGENT, MONDAY_9)
    for start in (1, 3):
        at = MONDAY_9 + timedelta(hours=start)
        ticket = change_status(ticket, TicketStatus.PENDING_CUSTOMER, AGENT, at, policy).ticket
        ticket = change_status(
            ticket, TicketStatus.IN_PROGRESS, AGENT, at + timedelta(minutes=30), policy
        ).ticket
    assert ticket.sla.resolution_due_at == MONDAY_9 + timedelta(hours=5)


def test_resolving_while_paused_is_met_when_the_pause_began_in_time() -> None:
    policy = SlaPolicy()
    ticket = working_ticket(policy, Priority.URGENT, MONDAY_9)
    paused = change_status(
        ticket, TicketStatus.PENDING_CUSTOMER, AGENT, MONDAY_9 + timedelta(hours=3), policy
    ).ticket
    resolved = change_status(
        paused, TicketStatus.RESOLVED, AGENT, MONDAY_9 + timedelta(hours=30), policy
    ).ticket
    assert resolved.sla.resolution_met is True
    late = change_status(
        ticket, TicketStatus.RESOLVED, AGENT, MONDAY_9 + timedelta(hours=4, seconds=1), policy
    ).ticket
    assert late.sla.resolution_met is False
    assert late.sla.resolution_breach_at == MONDAY_9 + timedelta(hours=4, seconds=1)


def business_policy() -> SlaPolicy:
    calendar = BusinessCalendar.weekdays(
        start="09:00", end="17:00", timezone="Europe/Madrid", holidays=(date(2026, 12, 25),)
    )
    return SlaPolicy(business_hours=calendar)


def test_business_hours_skip_the_weekend() -> None:
    policy = business_policy()
    # Friday 18 Dec 2026, 15:00 in Madrid (14:00 UTC); high = 1 h first response, 24 h resolution
    friday_3pm = datetime(2026, 12, 18, 14, 0, tzinfo=UTC)
    sla = sla_math.initial_sla(policy, Priority.HIGH, friday_3pm)
    assert sla.first_response_due_at == datetime(2026, 12, 18, 15, 0, tzinfo=UTC)
    # 2 h left on Friday, then 8 h Mon, Tue, 6 h Wed -> Wednesday 15:00 Madrid
    assert sla.resolution_due_at == datetime(2026, 12, 23, 14, 0, tzinfo=UTC)


def test_business_hours_skip_a_holiday() -> None:
    policy = business_policy()
    # Thursday 24 Dec 16:30 Madrid; Friday 25 is a holiday, then the weekend
    christmas_eve = datetime(2026, 12, 24, 15, 30, tzinfo=UTC)
    sla = sla_math.initial_sla(policy, Priority.HIGH, christmas_eve)
    assert sla.first_response_due_at == datetime(2026, 12, 28, 8, 30, tzinfo=UTC)


def test_a_pause_over_a_weekend_only_counts_working_time() -> None:
    policy = business_policy()
    created = datetime(2026, 12, 14, 8, 0, tzinfo=UTC)  # Monday 09:00 Madrid
    ticket = working_ticket(policy, Priority.HIGH, created)
    friday_4pm = datetime(2026, 12, 18, 15, 0, tzinfo=UTC)
    monday_10am = datetime(2026, 12, 21, 9, 0, tzinfo=UTC)
    paused = change_status(ticket, TicketStatus.PENDING_CUSTOMER, AGENT, friday_4pm, policy)
    resumed = change_status(
        paused.ticket, TicketStatus.IN_PROGRESS, AGENT, monday_10am, policy
    ).ticket
    assert resumed.sla.paused_total == 2 * 3_600_000  # Fri 16-17 and Mon 9-10


def test_configured_targets_and_warning_ratio() -> None:
    policy = SlaPolicy(
        targets={
            Priority.MEDIUM: SlaTarget(
                first_response=timedelta(minutes=30), resolution=timedelta(hours=8)
            )
        },
        warning_ratio=0.5,
    )
    sla = sla_math.initial_sla(policy, Priority.MEDIUM, MONDAY_9)
    assert sla.first_response_warning_at == MONDAY_9 + timedelta(minutes=15)
    assert sla.resolution_warning_at == MONDAY_9 + timedelta(hours=4)
    assert sla_math.initial_sla(policy, Priority.LOW, MONDAY_9).resolution_due_at == (
        MONDAY_9 + timedelta(days=7)
    )
