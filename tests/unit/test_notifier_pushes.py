"""The push table: which Socket.IO event, payload and rooms each event becomes."""

from datetime import UTC, datetime
from typing import Any

import pytest

from contracts.conversation import (
    AuthorType,
    Delivery,
    DeliveryStatus,
    Direction,
    MessageAuthor,
    TicketMessage,
)
from contracts.enums import ActorType, AgentRole, Priority, SlaKind, TicketStatus
from contracts.events import (
    Event,
    SlaBreached,
    SlaWarning,
    TicketAssigned,
    TicketCreated,
    TicketMessageAdded,
    TicketMessageDeliveryUpdated,
    TicketNoteAdded,
    TicketPriorityEscalated,
    TicketStatusChanged,
    TicketUnassigned,
    TicketUpdated,
)
from contracts.tickets import SlaBlock, Ticket
from services.notifier.domain.pushes import PUSHES, Push, push_for, rooms_of
from services.notifier.domain.recent import RecentIds
from services.notifier.domain.webhooks import EVENT_TYPES
from services.ticket_service.access import Principal
from tests.support.notifier_system import summary

NOW = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


def base(agent: str | None = None, **ticket: Any) -> dict[str, Any]:
    return {
        "event_id": "e1",
        "occurred_at": NOW,
        "ticket_id": "TICKET-2026-000001",
        "ticket": summary("TICKET-2026-000001", assigned_agent=agent, **ticket),
    }


def customer_message() -> TicketMessage:
    return TicketMessage(
        id="m1",
        ticket_id="TICKET-2026-000001",
        direction=Direction.INBOUND,
        author=MessageAuthor(type=AuthorType.CUSTOMER, id="cust-1", name="Lucía"),
        text="Here is the tracking number",
        created_at=NOW,
        delivery=Delivery(status=DeliveryStatus.RECEIVED),
    )


def test_a_conversation_message_is_pushed_as_ticket_message_to_the_readers() -> None:
    push = push_for(TicketMessageAdded(**base("a1"), message=customer_message()))
    assert push == Push(
        "ticket_message",
        ("agent_a1", "admins"),
        {"ticketId": "TICKET-2026-000001", "message": customer_message().to_wire()},
    )
    assert push.payload["message"]["author"] == {  # type: ignore[index]
        "type": "customer",
        "id": "cust-1",
        "name": "Lucía",
    }


def breach(agent: str | None) -> SlaBreached:
    return SlaBreached(
        event_id="e2",
        occurred_at=NOW,
        ticket_id="TICKET-2026-000001",
        kind=SlaKind.RESOLUTION,
        priority=Priority.URGENT,
        customer_id="cust-1",
        assigned_agent=agent,
        target_seconds=10,
        elapsed_seconds=11,
        due_at=NOW,
    )


def test_an_unassigned_ticket_is_pushed_to_every_agent() -> None:
    push = push_for(TicketCreated(**base()))
    assert push == Push(
        "ticket_created",
        ("agents",),
        {
            "ticketId": "TICKET-2026-000001",
            "customerId": "cust-1",
            "conversationId": "conv-1",
            "priority": "high",
            "category": "billing",
        },
    )


def test_an_assigned_ticket_reaches_only_its_agent_and_the_admins() -> None:
    push = push_for(TicketCreated(**base("a1")))
    assert push is not None
    assert push.rooms == ("agent_a1", "admins")


def test_a_reassignment_goes_to_the_new_agent_not_the_previous_one() -> None:
    push = push_for(TicketAssigned(**base("a2"), agent_id="a2", previous_agent_id="a1"))
    assert push == Push(
        "ticket_assigned",
        ("agent_a2", "admins"),
        {
            "ticketId": "TICKET-2026-000001",
            "agentId": "a2",
            "customerId": "cust-1",
            "priority": "high",
        },
    )


def test_a_ticket_back_in_the_pool_is_announced_to_every_agent() -> None:
    push = push_for(TicketUnassigned(**base(), previous_agent_id="a1"))
    assert push == Push(
        "ticket_updated",
        ("agents",),
        {"ticketId": "TICKET-2026-000001", "assignedAgent": None, "status": "new"},
    )


def test_status_change_payload_names_who_changed_it() -> None:
    by_agent = TicketStatusChanged(
        **base("a1", status=TicketStatus.RESOLVED),
        old_status=TicketStatus.IN_PROGRESS,
        new_status=TicketStatus.RESOLVED,
        changed_by=ActorType.AGENT,
        changed_by_id="a1",
    )
    automatic = by_agent.model_copy(update={"changed_by": ActorType.SYSTEM, "changed_by_id": None})
    assert push_for(by_agent) == Push(
        "ticket_status_changed",
        ("agent_a1", "admins"),
        {
            "ticketId": "TICKET-2026-000001",
            "oldStatus": "in_progress",
            "newStatus": "resolved",
            "changedBy": "a1",
            "changedByType": "Agent",
        },
    )
    pushed = push_for(automatic)
    assert pushed is not None
    assert pushed.payload["changedBy"] == "System"


def test_update_spreads_the_changes_and_keeps_the_ticket_id() -> None:
    event = TicketUpdated(**base(), changes={"firstResponseMet": False, "ticketId": "forged"})
    push = push_for(event)
    assert push is not None
    assert push.payload == {"ticketId": "TICKET-2026-000001", "firstResponseMet": False}


def test_escalation_payload() -> None:
    event = TicketPriorityEscalated(
        **base(), old_priority=Priority.LOW, new_priority=Priority.HIGH, reason="SLA breached"
    )
    push = push_for(event)
    assert push is not None
    assert push.event == "ticket_priority_escalated"
    assert push.payload == {
        "ticketId": "TICKET-2026-000001",
        "oldPriority": "low",
        "newPriority": "high",
        "reason": "SLA breached",
    }


@pytest.mark.parametrize(("agent", "rooms"), [("a1", ("admins", "agent_a1")), (None, ("admins",))])
def test_a_breach_alerts_the_admins_and_the_assigned_agent(
    agent: str | None, rooms: tuple[str, ...]
) -> None:
    assert push_for(breach(agent)) == Push(
        "sla_breach_alert",
        rooms,
        {
            "ticketId": "TICKET-2026-000001",
            "customerId": "cust-1",
            "assignedAgent": agent,
            "breachType": "resolution",
        },
    )


def test_internal_notes_and_warnings_are_not_pushed() -> None:
    note = TicketNoteAdded(**base(), note_id="n1", agent_id="a1", is_visible=False)
    warning = SlaWarning(**breach("a1").model_dump(exclude={"type"}))
    assert push_for(note) is None
    assert push_for(warning) is None


def test_the_table_only_names_real_event_types() -> None:
    assert set(PUSHES) <= EVENT_TYPES


@pytest.mark.parametrize(
    ("admin", "rooms"),
    [(False, ["agents", "agent_a1"]), (True, ["agents", "agent_a1", "admins"])],
)
def test_rooms_a_connected_agent_joins(admin: bool, rooms: list[str]) -> None:
    assert rooms_of("a1", admin=admin) == rooms


def test_recent_ids_forget_the_oldest_beyond_capacity() -> None:
    recent = RecentIds(3)
    for event_id in ("a", "b", "c", "a", "d"):
        recent.add(event_id)
    assert "a" in recent
    assert "b" not in recent
    assert len(recent) == 3


def about(assignee: str | None) -> list[Event]:
    """One event of every pushed type about a ticket assigned to `assignee` after it."""
    events: list[Event] = [
        TicketCreated(**base(assignee)),
        TicketStatusChanged(
            **base(assignee, status=TicketStatus.IN_PROGRESS),
            old_status=TicketStatus.NEW,
            new_status=TicketStatus.IN_PROGRESS,
            changed_by=ActorType.SYSTEM,
        ),
        TicketUpdated(**base(assignee), changes={"firstResponseMet": True}),
        TicketPriorityEscalated(
            **base(assignee), old_priority=Priority.LOW, new_priority=Priority.HIGH, reason="r"
        ),
        breach(assignee),
        TicketMessageAdded(**base(assignee), message=customer_message()),
        TicketMessageDeliveryUpdated(
            **base(assignee),
            message_id="m1",
            delivery=Delivery(status=DeliveryStatus.FAILED, at=NOW),
        ),
    ]
    if assignee is None:
        events.append(TicketUnassigned(**base(), previous_agent_id="a2"))
    else:
        events.append(TicketAssigned(**base(assignee), agent_id=assignee, previous_agent_id="a2"))
    return events


@pytest.mark.parametrize("assignee", [None, "a1", "a2"])
def test_no_agent_is_pushed_a_ticket_the_rest_api_would_hide_from_them(
    assignee: str | None,
) -> None:
    """The rooms checked against the REST API's own rule (ticket_service/access.py)."""
    ticket = Ticket(
        ticket_id="TICKET-2026-000001",
        title="t",
        description="d",
        customer_id="cust-1",
        assigned_agent=assignee,
        sla=SlaBlock(first_response_target=1, resolution_target=1),
        created_at=NOW,
        updated_at=NOW,
    )
    viewers = [
        Principal(ActorType.AGENT, "a1", AgentRole.AGENT),
        Principal(ActorType.AGENT, "a2", AgentRole.AGENT),
        Principal(ActorType.AGENT, "root", AgentRole.ADMIN),
    ]
    assert set(PUSHES) == {event.type for event in about(assignee)} | {
        "ticket.assigned" if assignee is None else "ticket.unassigned"
    }
    for event in about(assignee):
        push = push_for(event)
        assert push is not None
        for viewer in viewers:
            assert viewer.id is not None
            joined = rooms_of(viewer.id, admin=viewer.role is AgentRole.ADMIN)
            reached = bool(set(joined) & set(push.rooms))
            if reached:
                assert viewer.can_read(ticket), (event.type, viewer.id)
            if viewer.role is AgentRole.ADMIN or viewer.id == assignee:
                assert reached, (event.type, viewer.id)
