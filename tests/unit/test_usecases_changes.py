"""Changing tickets (assign, change_status, add_note, rate) over the in-memory fakes:
what each use case writes, what it refuses, a concurrent edit losing with Conflict, and
events going to the relay exactly for the changes committed."""

from datetime import UTC, datetime, timedelta

import pytest

from contracts import commands as cmd
from contracts.actors import AgentActor, CustomerActor, SystemActor
from contracts.enums import Priority, TicketStatus
from contracts.tickets import Ticket
from services.ticket_service.domain.errors import (
    AlreadyRated,
    Conflict,
    Forbidden,
    InvalidTransition,
    NotFound,
    ValidationFailed,
)
from services.ticket_service.domain.model import Change
from tests.support.factories import CUSTOMER_A, CUSTOMER_B
from tests.support.fakes import FakeService, created_by, fake_service, walked

START = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
S = TicketStatus


@pytest.fixture
def svc() -> FakeService:
    return fake_service(START)


def status(
    ticket: Ticket,
    to: TicketStatus,
    actor: AgentActor | CustomerActor | SystemActor | None = None,
    **extra: object,
) -> cmd.ChangeStatus:
    return cmd.ChangeStatus.model_validate(
        {
            "actor": (actor or SystemActor()).to_wire(),
            "ticketId": ticket.ticket_id,
            "status": str(to),
            **extra,
        }
    )


def assignment(ticket: Ticket, agent_id: str, actor: str | None = None) -> cmd.AssignTicket:
    by = AgentActor(id=actor) if actor else SystemActor()
    return cmd.AssignTicket(actor=by, ticket_id=ticket.ticket_id, agent_id=agent_id)


async def test_assigning_a_new_ticket_starts_the_work_and_announces_it(svc: FakeService) -> None:
    ticket = await created_by(svc, CUSTOMER_A)
    agent = svc.agents.add(START)
    svc.clock.advance(timedelta(minutes=3))
    assigned = await svc.cases.assign(assignment(ticket, agent, actor=agent))
    assert (assigned.status, assigned.assigned_agent) == (S.IN_PROGRESS, agent)
    assert [h.to_status for h in assigned.status_history] == [S.NEW, S.OPEN, S.IN_PROGRESS]
    assert assigned.updated_at == START + timedelta(minutes=3)
    assert await svc.tickets.get(ticket.ticket_id) == assigned
    assert svc.relay.routing_keys == [
        "ticket.created",
        "ticket.assigned",
        "ticket.status_changed",
        "ticket.status_changed",
    ]


async def test_assigning_to_an_inactive_or_unknown_agent_writes_nothing(
    svc: FakeService,
) -> None:
    ticket = await created_by(svc, CUSTOMER_A)
    gone = svc.agents.add(START, "Gone", active=False)
    for agent_id in (gone, "0" * 24):
        with pytest.raises(ValidationFailed, match="agentId"):
            await svc.cases.assign(assignment(ticket, agent_id))
    assert await svc.tickets.get(ticket.ticket_id) == ticket
    assert svc.relay.routing_keys == ["ticket.created"]


async def test_an_agent_cannot_take_a_ticket_assigned_to_someone_else(svc: FakeService) -> None:
    ana, bea = svc.agents.add(START, "Ana"), svc.agents.add(START, "Bea")
    ticket = await svc.cases.assign(assignment(await created_by(svc, CUSTOMER_A), ana))
    with pytest.raises(NotFound):
        await svc.cases.assign(assignment(ticket, bea, actor=bea))
    assert (await svc.tickets.get(ticket.ticket_id)) == ticket


async def test_an_invalid_transition_names_the_allowed_ones_and_changes_nothing(
    svc: FakeService,
) -> None:
    ticket = await created_by(svc, CUSTOMER_A)
    with pytest.raises(InvalidTransition) as refused:
        await svc.cases.change_status(status(ticket, S.RESOLVED))
    assert refused.value.current is S.NEW
    assert refused.value.allowed == [S.CANCELLED, S.OPEN]
    assert await svc.tickets.get(ticket.ticket_id) == ticket
    assert svc.relay.routing_keys == ["ticket.created"]


async def test_resolving_records_who_and_the_notes(svc: FakeService) -> None:
    agent = svc.agents.add(START)
    ticket = await svc.cases.assign(assignment(await created_by(svc, CUSTOMER_A), agent))
    svc.clock.advance(timedelta(hours=2))
    resolved = await svc.cases.change_status(
        status(ticket, S.RESOLVED, AgentActor(id=agent), resolutionNotes="Replaced the part")
    )
    assert resolved.status is S.RESOLVED
    assert (resolved.resolved_by, resolved.resolution_notes) == (agent, "Replaced the part")
    assert resolved.resolved_at == START + timedelta(hours=2)
    assert resolved.revision == ticket.revision + 1


async def test_a_customer_may_cancel_their_ticket_but_not_resolve_it(svc: FakeService) -> None:
    ticket = await walked(svc, (await created_by(svc, CUSTOMER_A)).ticket_id, S.OPEN)
    me = CustomerActor(phone=CUSTOMER_A)
    with pytest.raises(Forbidden):
        await svc.cases.change_status(status(ticket, S.IN_PROGRESS, me))
    cancelled = await svc.cases.change_status(status(ticket, S.CANCELLED, me))
    assert cancelled.status is S.CANCELLED
    assert cancelled.status_history[-1].changed_by == ticket.customer_id


async def test_another_customer_cannot_cancel_it(svc: FakeService) -> None:
    ticket = await created_by(svc, CUSTOMER_A)
    await created_by(svc, CUSTOMER_B)
    with pytest.raises(NotFound):
        await svc.cases.change_status(status(ticket, S.CANCELLED, CustomerActor(phone=CUSTOMER_B)))
    assert (await svc.tickets.get(ticket.ticket_id)) == ticket


async def test_a_stale_expected_revision_is_a_conflict_before_any_write(svc: FakeService) -> None:
    ticket = await created_by(svc, CUSTOMER_A)
    opened = await walked(svc, ticket.ticket_id, S.OPEN)
    with pytest.raises(Conflict, match=f"revision {opened.revision}, not {ticket.revision}"):
        await svc.cases.change_status(status(ticket, S.CANCELLED, expectedRevision=ticket.revision))
    assert await svc.tickets.get(ticket.ticket_id) == opened
    current = await svc.cases.change_status(
        status(ticket, S.CANCELLED, expectedRevision=opened.revision)
    )
    assert current.status is S.CANCELLED


async def test_a_concurrent_edit_wins_and_the_loser_gets_conflict_and_publishes_nothing(
    svc: FakeService,
) -> None:
    """Both read revision r; the other writer commits first; this one's conditional
    write finds the ticket moved on."""
    ticket = await walked(svc, (await created_by(svc, CUSTOMER_A)).ticket_id, S.OPEN)
    before = list(svc.relay.event_ids)

    async def someone_cancels_first(read: Ticket, change: Change) -> None:
        svc.tickets.before_apply.clear()
        await svc.cases.change_status(status(read, S.CANCELLED))

    svc.tickets.before_apply.append(someone_cancels_first)
    with pytest.raises(Conflict):
        await svc.cases.change_status(status(ticket, S.IN_PROGRESS))
    stored = await svc.tickets.get(ticket.ticket_id)
    assert stored is not None
    assert stored.status is S.CANCELLED
    assert stored.revision == ticket.revision + 1
    published_now = svc.relay.event_ids[len(before) :]
    assert len(published_now) == 1
    assert svc.relay.routing_keys[-1] == "ticket.status_changed"
    assert svc.relay.event_ids == svc.tickets.committed_event_ids()


async def test_events_reach_the_relay_exactly_for_committed_changes(svc: FakeService) -> None:
    """A walk with refusals in between: every committed event published once, in order;
    nothing of a refused change."""
    agent = svc.agents.add(START)
    ticket = await created_by(svc, CUSTOMER_A)
    await svc.cases.assign(assignment(ticket, agent))
    with pytest.raises(InvalidTransition):
        await svc.cases.change_status(status(ticket, S.CLOSED))
    await svc.cases.change_status(status(ticket, S.PENDING_CUSTOMER))
    with pytest.raises(Forbidden):
        await svc.cases.rate(
            cmd.RateTicket.model_validate(
                {"actor": {"type": "Agent", "id": agent}, "ticketId": ticket.ticket_id, "rating": 5}
            )
        )
    await svc.cases.change_status(status(ticket, S.RESOLVED))
    assert svc.relay.event_ids == svc.tickets.committed_event_ids()
    assert len(set(svc.relay.event_ids)) == len(svc.relay.event_ids) == 6
    assert all(key == ticket.ticket_id for key, _ in svc.relay.published)


async def test_a_customer_cannot_add_information_to_a_closed_ticket(svc: FakeService) -> None:
    ticket = await created_by(svc, CUSTOMER_A)
    agent = svc.agents.add(START)
    await svc.cases.assign(assignment(ticket, agent))
    closed = await walked(svc, ticket.ticket_id, S.RESOLVED, S.CLOSED)
    note = cmd.AddNote(
        actor=CustomerActor(phone=CUSTOMER_A), ticket_id=ticket.ticket_id, content="hi"
    )
    with pytest.raises(InvalidTransition, match="closed"):
        await svc.cases.add_note(note)
    assert await svc.tickets.get(ticket.ticket_id) == closed


async def test_notes_are_numbered_per_ticket(svc: FakeService) -> None:
    ticket = await created_by(svc, CUSTOMER_A)
    agent = AgentActor(id=svc.agents.add(START))
    for text in ("first", "second"):
        await svc.cases.add_note(cmd.AddNote(actor=agent, ticket_id=ticket.ticket_id, content=text))
    stored = await svc.tickets.get(ticket.ticket_id)
    assert stored is not None
    assert [(n.note_id, n.content) for n in stored.internal_notes] == [
        (f"{ticket.ticket_id}-N1", "first"),
        (f"{ticket.ticket_id}-N2", "second"),
    ]
    assert svc.relay.routing_keys[-2:] == ["ticket.note_added", "ticket.note_added"]


async def test_a_first_response_is_recorded_once_and_opens_a_new_ticket(svc: FakeService) -> None:
    ticket = await created_by(svc, CUSTOMER_A)
    agent = AgentActor(id=svc.agents.add(START))
    mark = cmd.MarkFirstResponse(actor=agent, ticket_id=ticket.ticket_id)
    svc.clock.advance(timedelta(minutes=10))
    answered = await svc.cases.mark_first_response(mark)
    svc.clock.advance(timedelta(minutes=10))
    again = await svc.cases.mark_first_response(mark)
    assert answered.status is S.OPEN
    assert answered.first_response_time == 10 * 60 * 1000
    assert answered.sla.first_response_at == START + timedelta(minutes=10)
    assert again == answered == await svc.tickets.get(ticket.ticket_id)
    assert svc.relay.routing_keys == ["ticket.created", "ticket.updated", "ticket.status_changed"]


async def test_an_escalated_ticket_comes_first_in_the_priority_order(svc: FakeService) -> None:
    first = await created_by(svc, CUSTOMER_A)
    second = await created_by(svc, CUSTOMER_A, priority="high")
    escalated = await svc.cases.escalate(
        cmd.EscalatePriority(actor=SystemActor(), ticket_id=first.ticket_id, reason="angry")
    )
    assert escalated.priority is Priority.HIGH
    again = await svc.cases.escalate(
        cmd.EscalatePriority(actor=SystemActor(), ticket_id=first.ticket_id)
    )
    assert again.priority is Priority.URGENT
    page = await svc.cases.list(
        cmd.ListTickets.model_validate({"actor": {"type": "System"}, "sort": "-priority"})
    )
    assert [item["ticketId"] for item in page.items] == [first.ticket_id, second.ticket_id]
    assert svc.relay.routing_keys.count("ticket.priority_escalated") == 2


async def test_an_unassigned_ticket_goes_back_to_the_pool(svc: FakeService) -> None:
    ana, bea = svc.agents.add(START, "Ana"), svc.agents.add(START, "Bea")
    ticket = await svc.cases.assign(assignment(await created_by(svc, CUSTOMER_A), ana))
    back = await svc.cases.unassign(
        cmd.UnassignTicket(actor=AgentActor(id=ana), ticket_id=ticket.ticket_id)
    )
    assert back.assigned_agent is None
    assert svc.relay.routing_keys[-1] == "ticket.unassigned"
    seen = await svc.cases.get(cmd.GetTicket(actor=AgentActor(id=bea), ticket_id=ticket.ticket_id))
    assert seen == back


async def test_a_customer_rates_a_resolved_ticket_once(svc: FakeService) -> None:
    ticket = await created_by(svc, CUSTOMER_A)
    me = {"type": "Customer", "phone": CUSTOMER_A}

    def rating(stars: int) -> cmd.RateTicket:
        body = {"actor": me, "ticketId": ticket.ticket_id, "rating": stars, "comment": "ok"}
        return cmd.RateTicket.model_validate(body)

    with pytest.raises(InvalidTransition):
        await svc.cases.rate(rating(4))
    await svc.cases.assign(assignment(ticket, svc.agents.add(START)))
    await walked(svc, ticket.ticket_id, S.RESOLVED)
    rated = await svc.cases.rate(rating(4))
    assert rated.customer_satisfaction is not None
    assert (rated.customer_satisfaction.rating, rated.customer_satisfaction.comment) == (4, "ok")
    with pytest.raises(AlreadyRated):
        await svc.cases.rate(rating(1))
    stored = await svc.tickets.get(ticket.ticket_id)
    assert stored is not None
    assert stored.customer_satisfaction == rated.customer_satisfaction
    assert svc.relay.event_ids == svc.tickets.committed_event_ids()
