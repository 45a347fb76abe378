"""Reading tickets (usecases.get, list, agent_tickets) over the in-memory fakes: who sees
what, the first view by an agent, and pages."""

from datetime import UTC, datetime, timedelta

import pytest

from contracts import commands as cmd
from contracts.actors import AgentActor, CustomerActor, SystemActor
from contracts.enums import AgentRole, TicketStatus
from contracts.tickets import Ticket
from services.ticket_service.domain.errors import Forbidden, NotFound, ValidationFailed
from services.ticket_service.domain.model import Change
from tests.support.factories import CUSTOMER_A, CUSTOMER_B
from tests.support.fakes import FakeService, created_by, fake_service, walked

START = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
CUSTOMER_C = "+34600000003"
Actor = AgentActor | CustomerActor | SystemActor


@pytest.fixture
def svc() -> FakeService:
    return fake_service(START)


def listing(actor: Actor, **filters: object) -> cmd.ListTickets:
    return cmd.ListTickets.model_validate({"actor": actor.to_wire(), **filters})


async def ids_seen(svc: FakeService, actor: Actor) -> list[str]:
    page = await svc.cases.list(listing(actor, sort="createdAt"))
    return [item["ticketId"] for item in page.items]


async def assign(svc: FakeService, ticket: Ticket, agent_id: str) -> Ticket:
    command = cmd.AssignTicket(actor=SystemActor(), ticket_id=ticket.ticket_id, agent_id=agent_id)
    return await svc.cases.assign(command)


async def three_tickets(svc: FakeService) -> list[Ticket]:
    """A's first, B's, A's second: a minute apart."""
    made = []
    for phone in (CUSTOMER_A, CUSTOMER_B, CUSTOMER_A):
        made.append(await created_by(svc, phone))
        svc.clock.advance(timedelta(minutes=1))
    return made


async def test_a_customer_reads_their_ticket_and_not_another_customers(svc: FakeService) -> None:
    mine = await created_by(svc, CUSTOMER_A)
    theirs = await created_by(svc, CUSTOMER_B)
    me = CustomerActor(phone=CUSTOMER_A)
    assert await svc.cases.get(cmd.GetTicket(actor=me, ticket_id=mine.ticket_id)) == mine
    with pytest.raises(NotFound) as hidden:
        await svc.cases.get(cmd.GetTicket(actor=me, ticket_id=theirs.ticket_id))
    with pytest.raises(NotFound) as missing:
        await svc.cases.get(cmd.GetTicket(actor=me, ticket_id="TICKET-2026-000099"))
    assert type(hidden.value) is type(missing.value)


async def test_a_customer_lists_only_their_own_tickets(svc: FakeService) -> None:
    a1, _, a2 = await three_tickets(svc)
    page = await svc.cases.list(listing(CustomerActor(phone=CUSTOMER_A), sort="createdAt"))
    assert [item["ticketId"] for item in page.items] == [a1.ticket_id, a2.ticket_id]
    assert (page.pagination.total, page.pagination.pages) == (2, 1)


async def test_a_customer_with_no_record_gets_an_empty_page_and_no_record(
    svc: FakeService,
) -> None:
    await three_tickets(svc)
    page = await svc.cases.list(listing(CustomerActor(phone=CUSTOMER_C)))
    assert page.items == []
    assert page.pagination.total == 0
    assert len(svc.customers.records) == 2


async def test_an_agent_sees_own_and_pool_tickets_an_admin_sees_all(svc: FakeService) -> None:
    ana, bea = svc.agents.add(START, "Ana"), svc.agents.add(START, "Bea")
    admin = svc.agents.add(START, "Root", AgentRole.ADMIN)
    first, pool, third = await three_tickets(svc)
    await assign(svc, first, ana)
    await assign(svc, third, bea)
    assert await ids_seen(svc, AgentActor(id=ana)) == [first.ticket_id, pool.ticket_id]
    assert await ids_seen(svc, AgentActor(id=bea)) == [pool.ticket_id, third.ticket_id]
    everything = [first.ticket_id, pool.ticket_id, third.ticket_id]
    assert await ids_seen(svc, AgentActor(id=admin)) == everything
    with pytest.raises(NotFound):
        await svc.cases.get(cmd.GetTicket(actor=AgentActor(id=ana), ticket_id=third.ticket_id))


async def test_an_inactive_or_unknown_agent_is_forbidden(svc: FakeService) -> None:
    ticket = await created_by(svc, CUSTOMER_A)
    gone = svc.agents.add(START, active=False)
    for agent_id in (gone, "0" * 24, "not-an-id"):
        with pytest.raises(Forbidden):
            await svc.cases.get(
                cmd.GetTicket(actor=AgentActor(id=agent_id), ticket_id=ticket.ticket_id)
            )
        with pytest.raises(Forbidden):
            await svc.cases.list(listing(AgentActor(id=agent_id)))
    assert (await svc.tickets.get(ticket.ticket_id)) == ticket


async def test_an_agents_first_view_opens_a_new_ticket_once(svc: FakeService) -> None:
    ticket = await created_by(svc, CUSTOMER_A)
    agent = AgentActor(id=svc.agents.add(START))
    svc.clock.advance(timedelta(minutes=5))
    viewed = await svc.cases.get(cmd.GetTicket(actor=agent, ticket_id=ticket.ticket_id))
    again = await svc.cases.get(cmd.GetTicket(actor=agent, ticket_id=ticket.ticket_id))
    assert viewed.status is TicketStatus.OPEN
    assert viewed.revision == ticket.revision + 1
    assert again == viewed
    assert svc.relay.routing_keys == ["ticket.created", "ticket.status_changed"]


async def test_a_customer_reading_a_new_ticket_changes_nothing(svc: FakeService) -> None:
    ticket = await created_by(svc, CUSTOMER_A)
    me = CustomerActor(phone=CUSTOMER_A)
    assert await svc.cases.get(cmd.GetTicket(actor=me, ticket_id=ticket.ticket_id)) == ticket
    assert svc.relay.routing_keys == ["ticket.created"]


async def test_a_first_view_losing_to_a_concurrent_edit_answers_the_ticket_as_it_is_now(
    svc: FakeService,
) -> None:
    ticket = await created_by(svc, CUSTOMER_A)
    agent = AgentActor(id=svc.agents.add(START))
    cancel = cmd.ChangeStatus(
        actor=SystemActor(), ticket_id=ticket.ticket_id, status=TicketStatus.CANCELLED
    )

    async def cancelled_meanwhile(before: Ticket, change: Change) -> None:
        svc.tickets.before_apply.clear()
        await svc.cases.change_status(cancel)

    svc.tickets.before_apply.append(cancelled_meanwhile)
    seen = await svc.cases.get(cmd.GetTicket(actor=agent, ticket_id=ticket.ticket_id))
    assert seen.status is TicketStatus.CANCELLED
    assert seen == await svc.tickets.get(ticket.ticket_id)
    assert svc.relay.routing_keys == ["ticket.created", "ticket.status_changed"]
    assert svc.relay.event_ids == svc.tickets.committed_event_ids()


async def test_pages_by_cursor_cover_every_ticket_once(svc: FakeService) -> None:
    made = []
    for _ in range(5):
        made.append(await created_by(svc, CUSTOMER_A))
        svc.clock.advance(timedelta(minutes=1))
    first = await svc.cases.list(listing(SystemActor(), limit=2, sort="createdAt"))
    assert first.pagination.next_cursor is not None
    assert (first.pagination.total, first.pagination.pages) == (5, 3)
    seen, page = [item["ticketId"] for item in first.items], first
    while page.pagination.next_cursor is not None:
        page = await svc.cases.list(
            listing(SystemActor(), limit=2, sort="createdAt", cursor=page.pagination.next_cursor)
        )
        seen += [item["ticketId"] for item in page.items]
    assert seen == [t.ticket_id for t in made]
    assert page.pagination.page == 3


async def test_a_search_word_finds_tickets_by_the_customers_name(svc: FakeService) -> None:
    await created_by(svc, CUSTOMER_A)
    theirs = await created_by(svc, CUSTOMER_B)
    record = svc.customers.records[theirs.customer_id]
    record.name = "Zoe Quintana"
    page = await svc.cases.list(listing(SystemActor(), q="quintana"))
    assert [item["ticketId"] for item in page.items] == [theirs.ticket_id]


async def test_an_agent_may_list_only_their_own_tickets_an_admin_anyones(
    svc: FakeService,
) -> None:
    ana, bea = svc.agents.add(START, "Ana"), svc.agents.add(START, "Bea")
    admin = svc.agents.add(START, "Root", AgentRole.ADMIN)
    ticket = await assign(svc, await created_by(svc, CUSTOMER_A), bea)
    with pytest.raises(NotFound):
        await svc.cases.agent_tickets(listing(AgentActor(id=ana), assignedAgent=bea))
    page = await svc.cases.agent_tickets(listing(AgentActor(id=admin), assignedAgent=bea))
    assert [item["ticketId"] for item in page.items] == [ticket.ticket_id]
    with pytest.raises(NotFound):
        await svc.cases.agent_tickets(listing(AgentActor(id=admin), assignedAgent="0" * 24))


async def test_a_cursor_of_another_listing_is_refused(svc: FakeService) -> None:
    for _ in range(3):
        await created_by(svc, CUSTOMER_A)
    first = await svc.cases.list(listing(SystemActor(), limit=1, sort="createdAt"))
    assert first.pagination.next_cursor is not None
    other = listing(SystemActor(), limit=1, sort="-createdAt", cursor=first.pagination.next_cursor)
    with pytest.raises(ValidationFailed, match="cursor"):
        await svc.cases.list(other)


async def test_open_only_leaves_out_closed_and_cancelled_tickets(svc: FakeService) -> None:
    kept, cancelled, closed = await three_tickets(svc)
    agent = svc.agents.add(START)
    await walked(svc, cancelled.ticket_id, TicketStatus.CANCELLED)
    await assign(svc, closed, agent)
    await walked(svc, closed.ticket_id, TicketStatus.RESOLVED, TicketStatus.CLOSED)
    page = await svc.cases.list(listing(SystemActor(), openOnly=True))
    assert [item["ticketId"] for item in page.items] == [kept.ticket_id]
    assert page.pagination.total == 1
