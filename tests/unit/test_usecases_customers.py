"""The customer desk (customers.py) over the in-memory fakes: a ticket with its customer
and WhatsApp window, lookups, and an agent's edit of the name that a later profile name
never replaces. (A customer's figures aggregate over MongoDB: integration tests only.)"""

from datetime import UTC, datetime, timedelta

import pytest
from bson import ObjectId

from contracts import commands as cmd
from contracts.actors import AgentActor, CustomerActor
from contracts.enums import Language
from services.ticket_service.customers import CustomerDesk, CustomerEdit
from services.ticket_service.documents import NameSource
from services.ticket_service.domain.errors import Forbidden, NotFound
from tests.support.factories import CUSTOMER_A, CUSTOMER_B
from tests.support.fakes import FakeService, created_by, fake_service

START = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)


@pytest.fixture
def svc() -> FakeService:
    return fake_service(START)


def wrote(svc: FakeService, message_id: str, name: str) -> cmd.CustomerMessage:
    return cmd.CustomerMessage(
        actor=CustomerActor(phone=CUSTOMER_A, name=name),
        message_id=message_id,
        text="hello there",
        received_at=svc.clock.now(),
    )


async def test_a_ticket_carries_its_customer_and_the_whatsapp_window(svc: FakeService) -> None:
    ticket = await created_by(svc, CUSTOMER_A)
    await svc.cases.customer_message(wrote(svc, "wamid.1", "Eva"))
    desk = CustomerDesk(svc.cases)
    svc.clock.advance(timedelta(hours=23))
    shown = await desk.one(ticket)
    assert shown["customer"]["phone"] == CUSTOMER_A
    assert shown["customer"]["name"] == "Eva"
    assert shown["whatsappWindow"] == {
        "open": True,
        "lastInboundAt": "2026-05-04T09:00:00Z",
        "closesAt": "2026-05-05T09:00:00Z",
    }
    svc.clock.advance(timedelta(hours=1))
    assert (await desk.one(ticket))["whatsappWindow"]["open"] is False


async def test_an_agents_name_is_kept_when_the_customer_writes_with_another_profile_name(
    svc: FakeService,
) -> None:
    ticket = await created_by(svc, CUSTOMER_A)
    agent = AgentActor(id=svc.agents.add(START))
    desk = CustomerDesk(svc.cases)
    edited = await desk.edit(
        agent, ticket.customer_id, CustomerEdit(name="Eva Ruiz", language=Language.ES)
    )
    await svc.cases.customer_message(wrote(svc, "wamid.1", "evita"))
    stored = await desk.by_id(ticket.customer_id)
    assert (edited.name, edited.name_source) == ("Eva Ruiz", NameSource.AGENT)
    assert (stored.name, stored.name_source, stored.language) == (
        "Eva Ruiz",
        NameSource.AGENT,
        Language.ES,
    )


async def test_an_inactive_agent_cannot_edit_a_customer(svc: FakeService) -> None:
    ticket = await created_by(svc, CUSTOMER_A)
    gone = AgentActor(id=svc.agents.add(START, active=False))
    with pytest.raises(Forbidden):
        await CustomerDesk(svc.cases).edit(gone, ticket.customer_id, CustomerEdit(name="X"))
    stored = await svc.customers.by_id(ticket.customer_id)
    assert stored is not None
    assert stored.name is None


async def test_unknown_customers_are_not_found(svc: FakeService) -> None:
    await created_by(svc, CUSTOMER_A)
    desk = CustomerDesk(svc.cases)
    agent = AgentActor(id=svc.agents.add(START))
    with pytest.raises(NotFound):
        await desk.by_phone(CUSTOMER_B)
    for customer_id in (str(ObjectId()), "not-an-id"):
        with pytest.raises(NotFound):
            await desk.by_id(customer_id)
        with pytest.raises(NotFound):
            await desk.edit(agent, customer_id, CustomerEdit(name="X"))
    assert (await desk.by_phone(CUSTOMER_A)).phone_number == CUSTOMER_A
    assert len(svc.customers.records) == 1
