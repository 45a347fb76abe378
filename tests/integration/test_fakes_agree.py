"""The in-memory fakes (tests/support/fakes.py) answer as the MongoDB repositories do,
so the unit tests of the use cases over them mean something: the same tickets stored in
both, then every listing filter, scope, sort and cursor position the use cases build,
the customer's latest ticket, the customer's naming rule and the conditional write."""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from contracts import commands as cmd
from contracts.actors import SystemActor
from contracts.enums import (
    PRIORITY_ORDER,
    ActorType,
    Category,
    Channel,
    Priority,
    Source,
    TicketStatus,
)
from contracts.sla import SlaPolicy
from contracts.tickets import Ticket
from infra.mongo import connect, init_documents
from services.ticket_service.access import Principal
from services.ticket_service.documents import DOCUMENT_MODELS
from services.ticket_service.domain import operations as ops
from services.ticket_service.domain.errors import Conflict
from services.ticket_service.domain.ids import format_ticket_id
from services.ticket_service.domain.model import ActorRef, Change, change_status
from services.ticket_service.listing import Position, after, build_query, build_sort
from services.ticket_service.repository import CustomerRepository, TicketRepository
from tests.support.fakes import FakeCustomers, FakeTickets
from tests.support.system import Endpoints

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
POLICY = SlaPolicy()
SYSTEM = ActorRef(ActorType.SYSTEM)
CUSTOMERS = ["c" * 24, "d" * 24, "e" * 24]
AGENTS = ["a" * 24, "b" * 24]
S = TicketStatus
SORTS: list[cmd.SortKey] = [
    "createdAt",
    "-createdAt",
    "priority",
    "-priority",
    "slaDueAt",
    "-slaDueAt",
    "updatedAt",
    "-updatedAt",
]
# customer, minutes after T0 (equal ones tie), priority, agent, statuses, title, conversation
SPECS: list[tuple[int, int, Priority, int | None, list[S], str, str | None]] = [
    (0, 0, Priority.LOW, None, [], "Printer broken", "conv-1"),
    (0, 0, Priority.HIGH, 0, [S.PENDING_CUSTOMER], "Login fails", "conv-2"),
    (1, 5, Priority.URGENT, 1, [S.RESOLVED], "Printer ink low", None),
    (1, 7, Priority.MEDIUM, None, [S.CANCELLED], "Refund please", "conv-3"),
    (2, 7, Priority.MEDIUM, 0, [S.RESOLVED, S.CLOSED], "Cannot login to printer", None),
    (2, 9, Priority.HIGH, None, [S.OPEN], "Billing address", "conv-4"),
    (0, 12, Priority.MEDIUM, 1, [], "Delivery late", "conv-1"),
]


def made(n: int) -> Ticket:
    customer, minutes, priority, agent, path, title, conversation = SPECS[n]
    at = T0 + timedelta(minutes=minutes)
    data = ops.NewTicket(
        ticket_id=format_ticket_id(2026, n + 1),
        title=title,
        description=f"{title}: details of case {n}.",
        customer_id=CUSTOMERS[customer],
        category=Category.SUPPORT,
        priority=priority,
        source=Source.AI,
        channel=Channel.WHATSAPP,
        conversation_id=conversation,
    )
    ticket = ops.open_ticket(data, SYSTEM, at, POLICY).ticket
    if agent is not None:
        ticket = ops.assign(ticket, AGENTS[agent], SYSTEM, at, POLICY).ticket
    for step, status in enumerate(path, start=1):
        later = at + timedelta(minutes=step * (n + 1))
        ticket = change_status(ticket, status, SYSTEM, later, POLICY).ticket
    if n == 5:  # one ticket without a resolution due time: nulls in the slaDueAt order
        ticket = ticket.model_copy(
            update={"sla": ticket.sla.model_copy(update={"resolution_due_at": None})}
        )
    return ticket


@dataclass
class Both:
    real: TicketRepository
    fake: FakeTickets
    customers: CustomerRepository
    fake_customers: FakeCustomers


@pytest.fixture
async def both(endpoints: Endpoints, database: str) -> AsyncIterator[Both]:
    async with connect(endpoints.mongo_url) as mongo:
        await init_documents(mongo, database, DOCUMENT_MODELS)
        pair = Both(TicketRepository(), FakeTickets(), CustomerRepository(), FakeCustomers())
        for n in range(len(SPECS)):
            ticket = made(n)
            await pair.real.insert(Change(ticket), f"k{n}")
            pair.fake.insert(Change(ticket), f"k{n}")
        yield pair


def listings() -> list[cmd.ListTickets]:
    system = SystemActor()
    filters: list[dict[str, Any]] = [
        {},
        {"status": ["new", "resolved"]},
        {"priority": ["high", "urgent"], "category": ["support"]},
        {"openOnly": True},
        {"openOnly": True, "status": ["resolved", "open"]},
        {"assignedAgent": "none"},
        {"assignedAgent": AGENTS[0]},
        {"customerId": CUSTOMERS[0]},
        {"createdFrom": (T0 + timedelta(minutes=5)).isoformat()},
        {"createdTo": (T0 + timedelta(minutes=7)).isoformat()},
        {"q": "printer"},
        {"q": "PRINTER login"},
        {"q": "TICKET-2026-000003"},
        {"q": "nothing-matches"},
    ]
    return [
        cmd.ListTickets.model_validate({"actor": system.to_wire(), "sort": sort, **f})
        for f in filters
        for sort in SORTS[:2]
    ]


SCOPES = [
    Principal(ActorType.SYSTEM).scope(),
    Principal(ActorType.CUSTOMER, CUSTOMERS[0]).scope(),
    Principal(ActorType.AGENT, AGENTS[1]).scope(),
]


async def ids(store: TicketRepository | FakeTickets, query: dict[str, Any], sort: str) -> list[str]:
    return [t.ticket_id for t in await store.find(query, build_sort(sort), 0, 100)]


async def test_every_listing_filter_and_scope_finds_and_counts_the_same(both: Both) -> None:
    compared = 0
    for command in listings():
        filters = build_query(command, {"printer": [CUSTOMERS[2]]})
        for scope in SCOPES:
            query = {"$and": [filters, scope]} if scope else filters
            real, fake = (
                await ids(both.real, query, command.sort),
                await ids(both.fake, query, command.sort),
            )
            assert fake == real, (query, command.sort)
            assert await both.fake.count(query) == await both.real.count(query) == len(real)
            compared += bool(real)
    assert compared > 40  # most queries found something: the order was compared too


async def test_every_sort_and_every_cursor_position_pages_the_same(both: Both) -> None:
    for sort in SORTS:
        order = await ids(both.real, {}, sort)
        assert await ids(both.fake, {}, sort) == order, sort
        stored = {t.ticket_id: t for t in await both.real.find({}, [("ticketId", 1)], 0, 100)}
        for ticket_id in order:
            field = sort.lstrip("-")
            value: Any = {
                "createdAt": stored[ticket_id].created_at,
                "updatedAt": stored[ticket_id].updated_at,
                "priority": PRIORITY_ORDER.index(stored[ticket_id].priority),
                "slaDueAt": stored[ticket_id].sla.resolution_due_at,
            }[field]
            query = after(sort, Position(value, ticket_id, 2))
            real = await ids(both.real, query, sort)
            assert real == order[order.index(ticket_id) + 1 :], (sort, ticket_id)
            assert await ids(both.fake, query, sort) == real, (sort, ticket_id)


async def test_the_latest_ticket_of_a_customer_is_the_same(both: Both) -> None:
    for customer in CUSTOMERS:
        for conversation in (None, "conv-1", "conv-2", "conv-3", "conv-9"):
            real = await both.real.latest_for_customer(customer, conversation)
            fake = await both.fake.latest_for_customer(customer, conversation)
            assert fake == real, (customer, conversation)


async def test_a_write_from_a_stale_read_conflicts_in_both(both: Both) -> None:
    read = made(0)
    first = change_status(read, S.OPEN, SYSTEM, T0 + timedelta(hours=1), POLICY)
    second = change_status(read, S.CANCELLED, SYSTEM, T0 + timedelta(hours=1), POLICY)
    for store in (both.real, both.fake):
        assert await store.apply(read, first) == first.ticket
        with pytest.raises(Conflict):
            await store.apply(read, second)
        assert await store.get(read.ticket_id) == first.ticket


async def test_a_customers_name_follows_the_same_rule_in_both(both: Both) -> None:
    """A WhatsApp profile name replaces an earlier one, never a name an agent entered."""
    steps: list[tuple[str, dict[str, Any]]] = [
        ("+34600000101", {"name": "eva", "create": True}),
        ("+34600000101", {"name": "Eva R", "create": True}),
        ("+34600000102", {"name": "Max", "create": True, "entered_by_agent": True}),
        ("+34600000102", {"name": "maxi", "create": True}),
        ("+34600000102", {"create": True, "inbound_at": T0}),
        ("+34600000102", {"create": True, "inbound_at": T0 - timedelta(hours=1)}),
        ("+34600000103", {"create": False}),
    ]
    for phone, how in steps:
        real = await both.customers.by_phone(phone, T0, **how)
        fake = await both.fake_customers.by_phone(phone, T0, **how)
        seen = [
            None if c is None else (c.phone_number, c.name, c.name_source, c.last_inbound_at)
            for c in (real, fake)
        ]
        assert seen[0] == seen[1], (phone, how)
    phones = {
        str(c.id): c.phone_number
        for phone in ("+34600000101", "+34600000102")
        if (c := await both.customers.by_phone(phone, T0, create=False)) is not None
    }
    matched = {
        word: sorted(phones[i] for i in found)
        for word, found in (await both.customers.ids_matching(["EVA", "0102", "zz"])).items()
    }
    assert matched == {"EVA": ["+34600000101"], "0102": ["+34600000102"], "zz": []}
    fake_matched = {
        word: sorted(both.fake_customers.records[i].phone_number for i in found)
        for word, found in (await both.fake_customers.ids_matching(["EVA", "0102", "zz"])).items()
    }
    assert fake_matched == matched
