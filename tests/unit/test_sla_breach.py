"""Breach records on the ticket and the clock explanation (pure ticket-service domain)."""

from datetime import UTC, datetime, timedelta

import pytest

from contracts.calendar import BusinessCalendar
from contracts.enums import ActorType, Category, Channel, Priority, SlaKind, Source, TicketStatus
from contracts.sla import SlaPolicy
from contracts.tickets import Ticket
from services.ticket_service.domain import operations as ops
from services.ticket_service.domain.breach import explain, record_breach
from services.ticket_service.domain.errors import Conflict, InvalidTransition
from services.ticket_service.domain.model import ActorRef, change_status

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)  # a Monday
HOUR = timedelta(hours=1)
POLICY = SlaPolicy()
AGENT = ActorRef(ActorType.AGENT, "a" * 24)


def new_ticket(priority: Priority = Priority.HIGH, policy: SlaPolicy = POLICY) -> Ticket:
    data = ops.NewTicket(
        ticket_id="TICKET-2026-000001",
        title="Order not delivered",
        description="My order has not arrived yet.",
        customer_id="c" * 24,
        category=Category.SUPPORT,
        priority=priority,
        source=Source.AI,
        channel=Channel.WHATSAPP,
    )
    return ops.open_ticket(data, ActorRef(ActorType.CUSTOMER, "c" * 24), T0, policy).ticket


def working(ticket: Ticket, at: datetime) -> Ticket:
    return ops.assign(ticket, AGENT.id or "", AGENT, at, POLICY).ticket


def test_a_breach_is_recorded_once_with_its_due_moment() -> None:
    ticket = new_ticket()
    due = ticket.sla.first_response_due_at
    assert due is not None
    change = record_breach(ticket, SlaKind.FIRST_RESPONSE, due + timedelta(seconds=3), due, POLICY)
    sla = change.ticket.sla
    assert (sla.first_response_breach_at, sla.first_response_met) == (due, False)
    assert sla.breach_alert_sent is True
    assert sla.breach_reason is not None
    assert "first_response" in sla.breach_reason
    assert change.ticket.revision == ticket.revision + 1
    assert [e.type for e in change.events] == ["ticket.updated"]
    again = record_breach(change.ticket, SlaKind.FIRST_RESPONSE, due + HOUR, due + HOUR, POLICY)
    assert (again.ticket, again.events) == (change.ticket, [])


def test_escalation_on_breach_goes_one_level_up_in_the_same_change() -> None:
    ticket = new_ticket(Priority.LOW)
    due = ticket.sla.first_response_due_at
    assert due is not None
    change = record_breach(ticket, SlaKind.FIRST_RESPONSE, due, due, POLICY, escalate=True)
    assert change.ticket.priority is Priority.MEDIUM
    assert [e.type for e in change.events] == ["ticket.updated", "ticket.priority_escalated"]
    assert change.ticket.sla.first_response_breach_at == due


def test_escalation_stops_at_urgent() -> None:
    ticket = new_ticket(Priority.URGENT)
    due = ticket.sla.first_response_due_at
    assert due is not None
    change = record_breach(ticket, SlaKind.FIRST_RESPONSE, due, due, POLICY, escalate=True)
    assert change.ticket.priority is Priority.URGENT
    assert [e.type for e in change.events] == ["ticket.updated"]


def test_a_stale_breach_is_refused() -> None:
    ticket = working(new_ticket(), T0 + HOUR / 6)
    due = ticket.sla.first_response_due_at
    assert due is not None
    with pytest.raises(Conflict):
        record_breach(ticket, SlaKind.FIRST_RESPONSE, due - HOUR / 2, due, POLICY)
    responded = ops.mark_first_response(ticket, T0 + HOUR / 2).ticket
    with pytest.raises(InvalidTransition):
        record_breach(responded, SlaKind.FIRST_RESPONSE, due, due, POLICY)
    paused = change_status(responded, TicketStatus.PENDING_CUSTOMER, AGENT, T0 + HOUR, POLICY)
    with pytest.raises(InvalidTransition):
        record_breach(paused.ticket, SlaKind.RESOLUTION, T0 + 30 * HOUR, T0 + 30 * HOUR, POLICY)
    resolved = change_status(responded, TicketStatus.RESOLVED, AGENT, T0 + HOUR, POLICY)
    with pytest.raises(InvalidTransition):
        record_breach(resolved.ticket, SlaKind.RESOLUTION, T0 + 30 * HOUR, T0 + 30 * HOUR, POLICY)


def test_the_explanation_shows_a_pause_with_its_reason() -> None:
    ticket = working(new_ticket(), T0)
    ticket = ops.mark_first_response(ticket, T0 + HOUR / 4).ticket
    ticket = change_status(ticket, TicketStatus.PENDING_CUSTOMER, AGENT, T0 + HOUR, POLICY).ticket
    explained = explain(ticket, T0 + 3 * HOUR, POLICY)
    first, resolution = explained.first_response, explained.resolution
    assert (first.state, first.outcome, first.elapsed_seconds) == ("stopped", "met", 900)
    assert resolution.state == "paused"
    assert resolution.due_at is None
    assert [(s.state, s.start, s.end) for s in resolution.timeline] == [
        ("running", T0, T0 + HOUR),
        ("paused", T0 + HOUR, T0 + 3 * HOUR),
    ]
    assert resolution.timeline[1].reason == "waiting for the customer (pending_customer)"
    assert resolution.working_time_remaining_seconds == 23 * 3600
    assert resolution.paused_seconds == 2 * 3600


def test_the_explanation_shows_out_of_hours_and_a_passed_due_as_breached() -> None:
    policy = SlaPolicy(business_hours=BusinessCalendar.weekdays("09:00", "18:00"))
    ticket = new_ticket(Priority.HIGH, policy)
    tuesday_10 = T0 + 25 * HOUR
    explained = explain(ticket, tuesday_10, policy)
    first = explained.first_response
    assert [(s.state, s.start, s.end) for s in first.timeline] == [
        ("running", T0, T0 + 9 * HOUR),
        ("out_of_hours", T0 + 9 * HOUR, T0 + 24 * HOUR),
        ("running", T0 + 24 * HOUR, tuesday_10),
    ]
    assert first.outcome == "breached"
    assert first.breached_at == T0 + HOUR
    assert first.time_remaining_seconds is None
    assert explained.resolution.outcome == "pending"
    assert explained.resolution.elapsed_seconds == 10 * 3600


def test_a_reopened_ticket_explains_its_new_resolution_cycle() -> None:
    ticket = working(new_ticket(), T0)
    ticket = ops.mark_first_response(ticket, T0 + HOUR / 4).ticket
    ticket = change_status(ticket, TicketStatus.RESOLVED, AGENT, T0 + 2 * HOUR, POLICY).ticket
    customer = ActorRef(ActorType.CUSTOMER, "c" * 24)
    reopened_at = T0 + 5 * HOUR
    ticket = change_status(ticket, TicketStatus.REOPENED, customer, reopened_at, POLICY).ticket
    resolution = explain(ticket, reopened_at + HOUR, POLICY).resolution
    assert resolution.started_at == reopened_at
    assert [(s.state, s.start, s.end) for s in resolution.timeline] == [
        ("running", reopened_at, reopened_at + HOUR)
    ]
    assert resolution.outcome == "pending"
