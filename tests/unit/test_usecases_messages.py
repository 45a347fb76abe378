"""A customer's WhatsApp message (usecases.customer_message) over the in-memory fakes:
resuming, reopening, a follow-up ticket after the reopen window, once per message id, and
the retry when the ticket changes underneath."""

from datetime import UTC, datetime, timedelta

import pytest

from contracts import commands as cmd
from contracts.actors import CustomerActor, SystemActor
from contracts.enums import TicketStatus
from contracts.sla import SlaPolicy
from contracts.tickets import Ticket
from services.ticket_service.domain.errors import Conflict
from services.ticket_service.domain.model import Change
from tests.support.factories import CUSTOMER_A, CUSTOMER_B
from tests.support.fakes import FakeService, created_by, fake_service, walked

START = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
S = TicketStatus
REOPEN_WINDOW = SlaPolicy().reopen_window


@pytest.fixture
def svc() -> FakeService:
    return fake_service(START)


def message(
    svc: FakeService, message_id: str, text: str = "Any news?", phone: str = CUSTOMER_A
) -> cmd.CustomerMessage:
    return cmd.CustomerMessage(
        actor=CustomerActor(phone=phone, name="Eva"),
        message_id=message_id,
        text=text,
        received_at=svc.clock.now(),
    )


async def at(svc: FakeService, *statuses: TicketStatus) -> Ticket:
    """A ticket of customer A taken by an agent, then walked through `statuses`."""
    ticket = await created_by(svc, CUSTOMER_A)
    agent = svc.agents.add(START)
    await svc.cases.assign(
        cmd.AssignTicket(actor=SystemActor(), ticket_id=ticket.ticket_id, agent_id=agent)
    )
    return await walked(svc, ticket.ticket_id, *statuses)


async def test_a_message_resumes_a_ticket_waiting_for_the_customer(svc: FakeService) -> None:
    ticket = await at(svc, S.PENDING_CUSTOMER)
    svc.clock.advance(timedelta(minutes=30))
    outcome = await svc.cases.customer_message(message(svc, "wamid.1"))
    stored = await svc.tickets.get(ticket.ticket_id)
    assert stored is not None
    assert outcome.action == "resumed"
    assert outcome.ticket == stored.to_wire()
    assert stored.status is S.IN_PROGRESS
    assert stored.last_customer_message_at == START + timedelta(minutes=30)
    assert svc.relay.routing_keys[-1] == "ticket.status_changed"


async def test_a_message_reopens_a_resolved_ticket(svc: FakeService) -> None:
    ticket = await at(svc, S.RESOLVED)
    outcome = await svc.cases.customer_message(message(svc, "wamid.1"))
    stored = await svc.tickets.get(ticket.ticket_id)
    assert stored is not None
    assert outcome.action == "reopened"
    assert (stored.status, stored.reopen_count) == (S.REOPENED, 1)


async def test_a_message_within_the_window_after_closing_reopens(svc: FakeService) -> None:
    ticket = await at(svc, S.RESOLVED, S.CLOSED)
    svc.clock.advance(REOPEN_WINDOW - timedelta(minutes=1))
    outcome = await svc.cases.customer_message(message(svc, "wamid.1"))
    assert outcome.action == "reopened"
    assert outcome.ticket is not None
    assert outcome.ticket["ticketId"] == ticket.ticket_id
    assert len(svc.tickets.stored) == 1


async def test_a_message_after_the_window_opens_a_linked_follow_up(svc: FakeService) -> None:
    closed = await at(svc, S.RESOLVED, S.CLOSED)
    svc.clock.advance(REOPEN_WINDOW + timedelta(minutes=1))
    outcome = await svc.cases.customer_message(message(svc, "wamid.9", "Again!"))
    assert outcome.action == "follow_up_created"
    assert outcome.related_ticket_id == closed.ticket_id
    assert outcome.ticket is not None
    follow_up = await svc.tickets.get(outcome.ticket["ticketId"])
    assert follow_up is not None
    assert follow_up.ticket_id != closed.ticket_id
    assert follow_up.related_tickets == [closed.ticket_id]
    assert follow_up.customer_id == closed.customer_id
    assert follow_up.title == f"Follow-up to {closed.ticket_id}"
    assert follow_up.description == "Customer wrote: Again!"
    assert await svc.tickets.get(closed.ticket_id) == closed
    assert svc.relay.routing_keys[-1] == "ticket.created"


async def test_the_same_message_delivered_twice_is_applied_once(svc: FakeService) -> None:
    closed = await at(svc, S.RESOLVED, S.CLOSED)
    svc.clock.advance(REOPEN_WINDOW + timedelta(days=1))
    first = await svc.cases.customer_message(message(svc, "wamid.dup"))
    published = len(svc.relay.entries)
    again = await svc.cases.customer_message(message(svc, "wamid.dup"))
    assert again == first
    assert len(svc.tickets.stored) == 2
    assert len(svc.relay.entries) == published
    [key] = svc.idempotency.runs
    assert key == f"message:{closed.customer_id}:wamid.dup"
    assert svc.idempotency.runs[key] == 1


async def test_a_new_message_id_is_applied_again(svc: FakeService) -> None:
    ticket = await at(svc, S.PENDING_CUSTOMER)
    await svc.cases.customer_message(message(svc, "wamid.1"))
    await walked(svc, ticket.ticket_id, S.PENDING_CUSTOMER)
    second = await svc.cases.customer_message(message(svc, "wamid.2"))
    assert second.action == "resumed"


async def test_a_message_on_a_ticket_being_worked_on_changes_nothing(svc: FakeService) -> None:
    ticket = await at(svc)
    outcome = await svc.cases.customer_message(message(svc, "wamid.1"))
    assert outcome.action == "none"
    assert await svc.tickets.get(ticket.ticket_id) == ticket


async def test_a_first_message_from_an_unknown_number_makes_the_customer_and_nothing_else(
    svc: FakeService,
) -> None:
    await created_by(svc, CUSTOMER_A)
    when = svc.clock.now()
    outcome = await svc.cases.customer_message(message(svc, "wamid.1", phone=CUSTOMER_B))
    assert outcome.action == "none"
    assert outcome.ticket is None
    record = await svc.customers.by_phone(CUSTOMER_B, when, create=False)
    assert record is not None
    assert (record.name, record.last_inbound_at) == ("Eva", when)
    assert len(svc.tickets.stored) == 1


async def test_a_message_that_loses_a_race_is_applied_to_the_ticket_as_it_is_now(
    svc: FakeService,
) -> None:
    """The ticket waited for the customer when the message came; an agent resolved it
    before the message's write: the retry reads it again and reopens it."""
    ticket = await at(svc, S.PENDING_CUSTOMER)
    interfered: list[int] = []

    async def resolved_meanwhile(read: Ticket, change: Change) -> None:
        if not interfered:
            interfered.append(read.revision)
            await walked(svc, read.ticket_id, S.RESOLVED)

    svc.tickets.before_apply.append(resolved_meanwhile)
    outcome = await svc.cases.customer_message(message(svc, "wamid.1"))
    stored = await svc.tickets.get(ticket.ticket_id)
    assert stored is not None
    assert interfered == [ticket.revision]
    assert outcome.action == "reopened"
    assert stored.status is S.REOPENED
    assert svc.relay.event_ids == svc.tickets.committed_event_ids()


async def test_a_ticket_that_keeps_changing_gives_up_with_conflict_after_three_tries(
    svc: FakeService,
) -> None:
    ticket = await at(svc, S.PENDING_CUSTOMER)
    tries: list[int] = []

    async def always_first(read: Ticket, change: Change) -> None:
        tries.append(read.revision)
        current = await svc.tickets.get(read.ticket_id)
        assert current is not None
        svc.tickets.put(current.model_copy(update={"revision": current.revision + 1}))

    svc.tickets.before_apply.append(always_first)
    with pytest.raises(Conflict, match="kept changing"):
        await svc.cases.customer_message(message(svc, "wamid.1"))
    assert tries == [ticket.revision, ticket.revision + 1, ticket.revision + 2]
    assert svc.idempotency.results == {}
    svc.tickets.before_apply.clear()
    retried = await svc.cases.customer_message(message(svc, "wamid.1"))
    assert retried.action == "resumed"


async def test_a_follow_up_run_again_after_its_record_was_lost_opens_no_second_ticket(
    svc: FakeService,
) -> None:
    """The once-per-message record is gone (the run died before storing it): the work
    runs again and finds the follow-up as the customer's latest ticket, new, so nothing
    more happens (its answer says `none` with that ticket, not `follow_up_created`)."""
    closed = await at(svc, S.RESOLVED, S.CLOSED)
    svc.clock.advance(REOPEN_WINDOW + timedelta(days=1))
    first = await svc.cases.customer_message(message(svc, "wamid.lost"))
    published = list(svc.relay.event_ids)
    svc.idempotency.results.clear()
    again = await svc.cases.customer_message(message(svc, "wamid.lost"))
    assert first.ticket is not None
    assert again.ticket is not None
    assert (first.action, first.related_ticket_id) == ("follow_up_created", closed.ticket_id)
    assert (again.action, again.ticket["ticketId"]) == ("none", first.ticket["ticketId"])
    assert len(svc.tickets.stored) == 2
    assert svc.relay.event_ids == published
    assert sum(svc.idempotency.runs.values()) == 2
