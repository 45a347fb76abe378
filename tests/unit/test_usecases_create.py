"""Creating a ticket (usecases.create) over the in-memory fakes: who may create for whom,
the idempotency key's replay and what is published. The creation's storage steps
(admission, numbers, races) are tested against the real stores in
tests/integration/test_ticket_creation*.py."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bson import ObjectId

from contracts import commands as cmd
from contracts.enums import ActorType, AgentRole, Source, TicketStatus
from services.ticket_service.documents import NameSource
from services.ticket_service.domain.errors import Forbidden, NotFound
from tests.support.factories import CUSTOMER_A, CUSTOMER_B, agent_actor, create_body
from tests.support.fakes import FakeService, created_by, fake_service

START = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
PHONE_NEW = "+34600000009"


@pytest.fixture
def svc() -> FakeService:
    return fake_service(START)


def by_agent(agent_id: str, customer: dict[str, Any], **extra: Any) -> cmd.CreateTicket:
    return cmd.CreateTicket.model_validate(
        {
            "actor": agent_actor(agent_id),
            "title": "Printer on fire",
            "description": "The shop's receipt printer is on fire.",
            "source": "agent",
            "customer": customer,
            **extra,
        }
    )


async def test_a_customer_opens_a_ticket_for_the_record_made_on_first_contact(
    svc: FakeService,
) -> None:
    ticket = await created_by(svc, CUSTOMER_A, key="k1")
    [customer] = svc.customers.records.values()
    assert customer.phone_number == CUSTOMER_A
    assert ticket.customer_id == str(customer.id)
    assert ticket.ticket_id == "TICKET-2026-000001"
    assert ticket.status is TicketStatus.NEW
    assert ticket.idempotency_key == f"create:{customer.id}:k1"
    assert ticket.status_history[0].changed_by_type is ActorType.CUSTOMER
    assert svc.relay.published == [(ticket.ticket_id, svc.tickets.outbox[ticket.ticket_id])]
    assert svc.relay.routing_keys == ["ticket.created"]


async def test_the_same_key_twice_answers_the_same_ticket_and_publishes_once(
    svc: FakeService,
) -> None:
    first = await created_by(svc, CUSTOMER_A, key="same")
    svc.clock.advance(timedelta(hours=1))
    again = await created_by(svc, CUSTOMER_A, key="same")
    assert again == first
    assert list(svc.tickets.stored) == [first.ticket_id]
    assert svc.relay.routing_keys == ["ticket.created"]


async def test_the_same_key_from_another_customer_is_another_ticket(svc: FakeService) -> None:
    mine = await created_by(svc, CUSTOMER_A, key="k")
    theirs = await created_by(svc, CUSTOMER_B, key="k")
    assert theirs.ticket_id != mine.ticket_id
    assert theirs.customer_id != mine.customer_id
    assert svc.relay.routing_keys == ["ticket.created", "ticket.created"]


async def test_creations_without_a_key_are_never_replays(svc: FakeService) -> None:
    first = await created_by(svc, CUSTOMER_A)
    second = await created_by(svc, CUSTOMER_A)
    assert (first.ticket_id, second.ticket_id) == ("TICKET-2026-000001", "TICKET-2026-000002")
    assert first.idempotency_key is None


async def test_a_replay_to_an_agent_who_may_not_read_the_ticket_is_not_found(
    svc: FakeService,
) -> None:
    """Agent A created and took the ticket; agent B repeats the key for the same customer:
    a key is never a way to read a ticket, nor to learn its id."""
    a, b = svc.agents.add(START, "Ana"), svc.agents.add(START, "Bea")
    customer = {"phone": CUSTOMER_A}
    taken = await svc.cases.create(by_agent(a, customer, idempotencyKey="k", assignToSelf=True))
    with pytest.raises(NotFound) as refused:
        await svc.cases.create(by_agent(b, customer, idempotencyKey="k"))
    assert taken.ticket_id not in refused.value.message
    assert len(svc.tickets.stored) == 1
    # the one who may read it gets the ticket again
    assert await svc.cases.create(by_agent(a, customer, idempotencyKey="k")) == taken


async def test_a_replay_to_an_admin_answers_the_ticket(svc: FakeService) -> None:
    a, admin = svc.agents.add(START, "Ana"), svc.agents.add(START, "Root", AgentRole.ADMIN)
    customer = {"phone": CUSTOMER_A}
    taken = await svc.cases.create(by_agent(a, customer, idempotencyKey="k", assignToSelf=True))
    assert await svc.cases.create(by_agent(admin, customer, idempotencyKey="k")) == taken


async def test_an_agent_creating_by_phone_makes_the_customer_with_the_name_they_entered(
    svc: FakeService,
) -> None:
    agent = svc.agents.add(START)
    customer = {"phone": PHONE_NEW, "name": "Eva Ruiz", "language": "es"}
    ticket = await svc.cases.create(by_agent(agent, customer))
    [record] = svc.customers.records.values()
    assert (record.phone_number, record.name, record.name_source) == (
        PHONE_NEW,
        "Eva Ruiz",
        NameSource.AGENT,
    )
    assert ticket.customer_id == str(record.id)
    assert ticket.source is Source.AGENT
    assert ticket.status_history[0].changed_by == agent
    assert ticket.assigned_agent is None


async def test_an_agents_name_replaces_the_customers_whatsapp_profile_name(
    svc: FakeService,
) -> None:
    known = svc.customers.add(CUSTOMER_A, START, name="evita")
    agent = svc.agents.add(START)
    ticket = await svc.cases.create(by_agent(agent, {"phone": CUSTOMER_A, "name": "Eva Ruiz"}))
    record = svc.customers.records[str(known.id)]
    assert ticket.customer_id == str(known.id)
    assert (record.name, record.name_source) == ("Eva Ruiz", NameSource.AGENT)
    assert len(svc.customers.records) == 1


async def test_an_agent_creating_by_customer_id_and_taking_it_starts_work(
    svc: FakeService,
) -> None:
    known = svc.customers.add(CUSTOMER_A, START)
    agent = svc.agents.add(START)
    command = by_agent(agent, {"customerId": str(known.id)}, assignToSelf=True)
    ticket = await svc.cases.create(command)
    assert ticket.customer_id == str(known.id)
    assert (ticket.status, ticket.assigned_agent) == (TicketStatus.IN_PROGRESS, agent)
    assert svc.relay.routing_keys == [
        "ticket.created",
        "ticket.assigned",
        "ticket.status_changed",
        "ticket.status_changed",
    ]
    assert svc.relay.event_ids == svc.tickets.committed_event_ids()


async def test_an_unknown_customer_id_is_not_found_and_nothing_is_stored(
    svc: FakeService,
) -> None:
    agent = svc.agents.add(START)
    with pytest.raises(NotFound):
        await svc.cases.create(by_agent(agent, {"customerId": str(ObjectId())}))
    assert svc.tickets.stored == {}
    assert svc.relay.published == []


async def test_a_customer_cannot_open_a_ticket_for_another_customer(svc: FakeService) -> None:
    other = svc.customers.add(CUSTOMER_B, START)
    svc.customers.add(CUSTOMER_A, START)
    body = create_body(CUSTOMER_A, customer={"customerId": str(other.id)})
    with pytest.raises(Forbidden):
        await svc.cases.create(cmd.CreateTicket.model_validate(body))
    assert svc.tickets.stored == {}
    assert svc.relay.published == []


async def test_a_customer_may_open_a_ticket_by_their_own_id(svc: FakeService) -> None:
    me = svc.customers.add(CUSTOMER_A, START)
    body = create_body(CUSTOMER_A, customer={"customerId": str(me.id)})
    ticket = await svc.cases.create(cmd.CreateTicket.model_validate(body))
    assert ticket.customer_id == str(me.id)


async def test_an_inactive_agent_cannot_create(svc: FakeService) -> None:
    gone = svc.agents.add(START, active=False)
    with pytest.raises(Forbidden):
        await svc.cases.create(by_agent(gone, {"phone": CUSTOMER_A}))
    assert svc.tickets.stored == {}
    assert svc.customers.records == {}
