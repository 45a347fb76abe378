"""Every pair of statuses: the table's transitions succeed, all others raise."""

from datetime import UTC, datetime, timedelta

import pytest

from contracts.enums import ActorType, Priority, TicketStatus
from contracts.sla import SlaPolicy
from contracts.tickets import Ticket
from services.ticket_service.domain import sla as sla_math
from services.ticket_service.domain.errors import InvalidTransition
from services.ticket_service.domain.lifecycle import ALLOWED_TRANSITIONS, check_transition
from services.ticket_service.domain.model import ActorRef, change_status

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
POLICY = SlaPolicy()
AGENT = ActorRef(ActorType.AGENT, "a" * 24)

EXPECTED = {
    ("new", "open"),
    ("new", "cancelled"),
    ("open", "in_progress"),
    ("open", "cancelled"),
    ("in_progress", "pending_customer"),
    ("in_progress", "resolved"),
    ("in_progress", "cancelled"),
    ("pending_customer", "in_progress"),
    ("pending_customer", "resolved"),
    ("pending_customer", "cancelled"),
    ("resolved", "closed"),
    ("resolved", "reopened"),
    ("closed", "reopened"),
    ("reopened", "in_progress"),
}
ALL_PAIRS = [(a, b) for a in TicketStatus for b in TicketStatus]


def ticket_in(status: TicketStatus) -> Ticket:
    return Ticket(
        ticket_id="TICKET-2026-000001",
        title="Order not delivered",
        description="My order has not arrived yet.",
        customer_id="c" * 24,
        status=status,
        priority=Priority.HIGH,
        sla=sla_math.initial_sla(POLICY, Priority.HIGH, NOW - timedelta(hours=1)),
        created_at=NOW - timedelta(hours=1),
        updated_at=NOW - timedelta(hours=1),
        closed_at=NOW - timedelta(minutes=5) if status is TicketStatus.CLOSED else None,
    )


def test_the_table_is_the_one_of_the_design() -> None:
    table = {(str(a), str(b)) for a, targets in ALLOWED_TRANSITIONS.items() for b in targets}
    assert table == EXPECTED


@pytest.mark.parametrize(("current", "requested"), ALL_PAIRS)
def test_every_pair_of_statuses(current: TicketStatus, requested: TicketStatus) -> None:
    ticket = ticket_in(current)
    if (str(current), str(requested)) in EXPECTED:
        change = change_status(ticket, requested, AGENT, NOW, POLICY, reason="test")
        assert change.ticket.status is requested
        assert change.ticket.revision == ticket.revision + 1
        entry = change.ticket.status_history[-1]
        assert (entry.from_status, entry.to_status, entry.changed_by) == (
            current,
            requested,
            AGENT.id,
        )
        assert [e.type for e in change.events] == ["ticket.status_changed"]
    else:
        with pytest.raises(InvalidTransition) as raised:
            change_status(ticket, requested, AGENT, NOW, POLICY)
        assert raised.value.code == "invalid_transition"
        assert raised.value.allowed == sorted(ALLOWED_TRANSITIONS[current])


def test_the_error_names_the_valid_next_statuses() -> None:
    with pytest.raises(InvalidTransition, match=r"Valid transitions: cancelled, open$"):
        check_transition(TicketStatus.NEW, TicketStatus.RESOLVED)
    with pytest.raises(InvalidTransition, match=r"none \(terminal status\)"):
        check_transition(TicketStatus.CANCELLED, TicketStatus.OPEN)


def test_resolving_records_who_when_and_starts_the_auto_close_clock() -> None:
    change = change_status(
        ticket_in(TicketStatus.IN_PROGRESS),
        TicketStatus.RESOLVED,
        AGENT,
        NOW,
        POLICY,
        resolution_notes="Refunded",
    )
    resolved = change.ticket
    assert resolved.resolved_at == NOW
    assert resolved.resolved_by == AGENT.id
    assert resolved.resolution_notes == "Refunded"
    assert resolved.resolution_time == 3_600_000
    assert resolved.sla.resolution_met is True
    assert resolved.sla.auto_close_due_at == NOW + timedelta(hours=24)


def test_closing_and_reopening_keep_the_counters() -> None:
    closed = change_status(
        ticket_in(TicketStatus.RESOLVED), TicketStatus.CLOSED, ActorRef.system(), NOW, POLICY
    ).ticket
    assert (closed.closed_at, closed.closed_by_type) == (NOW, ActorType.SYSTEM)
    later = NOW + timedelta(hours=2)
    customer = ActorRef(ActorType.CUSTOMER, "c" * 24)
    reopened = change_status(closed, TicketStatus.REOPENED, customer, later, POLICY).ticket
    assert reopened.reopen_count == 1
    assert (reopened.last_reopened_at, reopened.last_reopened_by_type) == (
        later,
        ActorType.CUSTOMER,
    )
    assert reopened.sla.resolution_cycle_started_at == later
    assert reopened.sla.resolution_due_at == later + timedelta(hours=24)


def test_time_in_progress_and_waiting_on_the_customer_is_tracked() -> None:
    ticket = ticket_in(TicketStatus.IN_PROGRESS)
    waiting = change_status(ticket, TicketStatus.PENDING_CUSTOMER, AGENT, NOW, POLICY).ticket
    back = change_status(
        waiting, TicketStatus.IN_PROGRESS, AGENT, NOW + timedelta(minutes=30), POLICY
    ).ticket
    assert waiting.active_work_time == 3_600_000
    assert back.customer_wait_time == 30 * 60_000
