"""Automatic transitions and the other aggregate operations, on the pure domain."""

from datetime import UTC, datetime, timedelta

import pytest

from contracts.enums import ActorType, Category, Channel, Priority, Source, TicketStatus
from contracts.sla import SlaPolicy
from contracts.tickets import Ticket
from services.ticket_service.domain import operations as ops
from services.ticket_service.domain.errors import InvalidTransition
from services.ticket_service.domain.ids import format_ticket_id, parse_ticket_id
from services.ticket_service.domain.model import ActorRef, change_status

NOW = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
POLICY = SlaPolicy()
CUSTOMER = ActorRef(ActorType.CUSTOMER, "c" * 24)
AGENT_ID = "a" * 24
AGENT = ActorRef(ActorType.AGENT, AGENT_ID)


def new_ticket(priority: Priority = Priority.MEDIUM) -> Ticket:
    data = ops.NewTicket(
        ticket_id=format_ticket_id(2026, 7),
        title="Cannot log in",
        description="The app says my password is wrong.",
        customer_id=CUSTOMER.id or "",
        category=Category.ACCOUNT,
        priority=priority,
        source=Source.AI,
        channel=Channel.WHATSAPP,
        tags=(" Login ", "login", "APP"),
    )
    return ops.open_ticket(data, CUSTOMER, NOW, POLICY).ticket


def walk(ticket: Ticket, *statuses: TicketStatus, at: datetime = NOW) -> Ticket:
    for status in statuses:
        ticket = change_status(ticket, status, AGENT, at, POLICY).ticket
    return ticket


def test_a_new_ticket_starts_new_with_its_sla_planned() -> None:
    ticket = new_ticket()
    assert ticket.ticket_id == "TICKET-2026-000007"
    assert ticket.status is TicketStatus.NEW
    assert ticket.ai_generated is True
    assert ticket.tags == ["app", "login"]
    assert ticket.sla.first_response_due_at == NOW + timedelta(hours=4)
    assert ticket.sla.resolution_due_at == NOW + timedelta(days=3)
    assert ticket.sla.first_response_warning_at == NOW + timedelta(hours=4) * 0.8


def test_assigning_a_new_ticket_walks_new_open_in_progress() -> None:
    change = ops.assign(new_ticket(), AGENT_ID, AGENT, NOW, POLICY)
    ticket = change.ticket
    assert ticket.status is TicketStatus.IN_PROGRESS
    assert ticket.assigned_agent == AGENT_ID
    assert [(h.from_status, h.to_status, h.automated) for h in ticket.status_history[1:]] == [
        (TicketStatus.NEW, TicketStatus.OPEN, True),
        (TicketStatus.OPEN, TicketStatus.IN_PROGRESS, True),
    ]
    assert [e.type for e in change.events] == [
        "ticket.assigned",
        "ticket.status_changed",
        "ticket.status_changed",
    ]


def test_reassigning_releases_the_previous_agent() -> None:
    first = ops.assign(new_ticket(), AGENT_ID, AGENT, NOW, POLICY).ticket
    later = NOW + timedelta(minutes=10)
    second = ops.assign(first, "b" * 24, AGENT, later, POLICY)
    history = second.ticket.assignment_history
    assert [(a.agent, a.released_at) for a in history] == [(AGENT_ID, later), ("b" * 24, None)]
    assert second.events[0].previous_agent_id == AGENT_ID  # type: ignore[union-attr]
    assert ops.assign(second.ticket, "b" * 24, AGENT, later, POLICY).events == []


@pytest.mark.parametrize("status", [TicketStatus.CLOSED, TicketStatus.CANCELLED])
def test_done_tickets_cannot_be_assigned(status: TicketStatus) -> None:
    ticket = new_ticket().model_copy(update={"status": status})
    with pytest.raises(InvalidTransition, match="Cannot assign"):
        ops.assign(ticket, AGENT_ID, AGENT, NOW, POLICY)


def test_unassign_returns_to_the_pool_without_a_status_change() -> None:
    assigned = ops.assign(new_ticket(), AGENT_ID, AGENT, NOW, POLICY).ticket
    pooled = ops.unassign(assigned, NOW, "going home")
    assert pooled.ticket.assigned_agent is None
    assert pooled.ticket.status is TicketStatus.IN_PROGRESS
    assert pooled.ticket.assignment_history[-1].released_at == NOW
    with pytest.raises(InvalidTransition):
        ops.unassign(pooled.ticket, NOW)


def test_first_agent_view_opens_a_new_ticket_once() -> None:
    viewed = ops.first_view_by_agent(new_ticket(), AGENT_ID, NOW, POLICY)
    assert viewed is not None
    assert viewed.ticket.status is TicketStatus.OPEN
    entry = viewed.ticket.status_history[-1]
    assert (entry.automated, entry.changed_by_type) == (True, ActorType.AGENT)
    assert ops.first_view_by_agent(viewed.ticket, AGENT_ID, NOW, POLICY) is None


def test_a_customer_reply_resumes_a_ticket_pending_on_them() -> None:
    waiting = walk(new_ticket(), TicketStatus.OPEN, TicketStatus.IN_PROGRESS)
    waiting = walk(waiting, TicketStatus.PENDING_CUSTOMER)
    change = ops.react_to_customer_message(waiting, CUSTOMER, NOW + timedelta(hours=1), POLICY)
    assert change is not None
    assert change.ticket.status is TicketStatus.IN_PROGRESS
    entry = change.ticket.status_history[-1]
    assert (entry.automated, entry.changed_by_type) == (True, ActorType.CUSTOMER)
    assert change.ticket.last_customer_message_at == NOW + timedelta(hours=1)


def test_a_customer_reply_reopens_a_resolved_ticket() -> None:
    resolved = walk(
        new_ticket(), TicketStatus.OPEN, TicketStatus.IN_PROGRESS, TicketStatus.RESOLVED
    )
    change = ops.react_to_customer_message(resolved, CUSTOMER, NOW, POLICY)
    assert change is not None
    assert change.ticket.status is TicketStatus.REOPENED


def test_a_closed_ticket_reopens_inside_the_window_and_follows_up_after() -> None:
    closed = walk(
        new_ticket(),
        TicketStatus.OPEN,
        TicketStatus.IN_PROGRESS,
        TicketStatus.RESOLVED,
        TicketStatus.CLOSED,
    )
    inside = NOW + POLICY.reopen_window
    after = inside + timedelta(milliseconds=1)
    assert ops.customer_message_action(closed, inside, POLICY) == "reopened"
    assert ops.customer_message_action(closed, after, POLICY) == "follow_up"
    assert ops.react_to_customer_message(closed, CUSTOMER, after, POLICY) is None


@pytest.mark.parametrize(
    "status", [TicketStatus.NEW, TicketStatus.IN_PROGRESS, TicketStatus.CANCELLED]
)
def test_other_statuses_ignore_a_customer_reply(status: TicketStatus) -> None:
    ticket = new_ticket().model_copy(update={"status": status})
    assert ops.customer_message_action(ticket, NOW, POLICY) == "none"


def test_first_response_is_recorded_once_with_the_met_flag() -> None:
    late = NOW + timedelta(hours=5)
    change = ops.mark_first_response(new_ticket(), late)
    sla = change.ticket.sla
    assert (sla.first_response_at, sla.first_response_met) == (late, False)
    assert sla.first_response_breach_at == late
    assert change.ticket.first_response_time == 5 * 3_600_000
    assert ops.mark_first_response(change.ticket, late + timedelta(hours=1)).events == []


def test_escalation_goes_up_one_level_and_replans() -> None:
    change = ops.escalate(new_ticket(Priority.LOW), NOW + timedelta(hours=1), POLICY)
    ticket = change.ticket
    assert ticket.priority is Priority.MEDIUM
    assert ticket.sla.first_response_target == 4 * 3_600_000
    assert ticket.sla.first_response_due_at == NOW + timedelta(hours=4)
    with pytest.raises(InvalidTransition, match="above urgent"):
        ops.escalate(new_ticket(Priority.URGENT), NOW, POLICY)
    with pytest.raises(InvalidTransition):
        ops.escalate(new_ticket(Priority.HIGH), NOW, POLICY, target=Priority.LOW)


def test_only_resolved_or_closed_tickets_are_rated() -> None:
    with pytest.raises(InvalidTransition, match="Cannot rate"):
        ops.rate(new_ticket(), 5, None, NOW)
    resolved = walk(
        new_ticket(), TicketStatus.OPEN, TicketStatus.IN_PROGRESS, TicketStatus.RESOLVED
    )
    rated = ops.rate(resolved, 4, "quick", NOW).ticket
    assert rated.customer_satisfaction is not None
    assert rated.customer_satisfaction.rating == 4


def test_ticket_ids_are_zero_padded_and_parse_back() -> None:
    assert format_ticket_id(2026, 1) == "TICKET-2026-000001"
    assert format_ticket_id(2027, 1_234_567) == "TICKET-2027-1234567"
    assert parse_ticket_id("TICKET-2026-000042") == (2026, 42)
    with pytest.raises(ValueError, match="sequence"):
        format_ticket_id(2026, 0)
    with pytest.raises(ValueError, match="not a ticket id"):
        parse_ticket_id("TICKET-26-1")


def test_a_ticket_an_agent_takes_at_creation_is_announced_with_its_assignee() -> None:
    data = ops.NewTicket(
        ticket_id=format_ticket_id(2026, 8),
        title="Cannot log in",
        description="The app says my password is wrong.",
        customer_id=CUSTOMER.id or "",
        category=Category.ACCOUNT,
        priority=Priority.HIGH,
        source=Source.AGENT,
        channel=Channel.WHATSAPP,
    )
    opened = ops.open_ticket(data, AGENT, NOW, POLICY)
    change = ops.taken_at_creation(opened, AGENT_ID, AGENT, NOW, POLICY)
    created = change.events[0]
    assert created.type == "ticket.created"
    assert created.ticket.assigned_agent == AGENT_ID
    assert created.ticket.revision == change.ticket.revision
    assert created.event_id == opened.events[0].event_id
    assert [e.type for e in change.events[1:]] == [
        "ticket.assigned",
        "ticket.status_changed",
        "ticket.status_changed",
    ]
