"""In-memory fakes of the ticket service's ports (services/ticket_service/ports.py), for
unit tests of the use cases without MongoDB or RabbitMQ.

Each keeps the semantics the use cases rely on, not the storage: `FakeTickets.apply` is
conditional on the revision the ticket was read at and raises the repository's
`Conflict`; `find`/`count` evaluate the Mongo filters listing.py and access.py build (the
operators they use; any other raises, so a new one cannot pass unnoticed); `FakeIdempotency`
runs the work once per key and replays the recorded result; `FakeRelay` records what it
was handed; `FakeCreator` opens a ticket once per creation key under the next number of
the year, with the hourly limit and the open-ticket cap of creation.py.

Beanie documents (`Customer`, `Agent`) cannot be instantiated before Beanie is
initialised, so the fakes build them with `model_construct` (no database, no validation).
"""

import asyncio
import re
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.collection import AsyncCollection

from contracts import commands as cmd
from contracts.actors import SystemActor
from contracts.enums import PRIORITY_ORDER, AgentRole, Language, TicketStatus
from contracts.sla import SlaPolicy
from contracts.tickets import Ticket
from infra.clock import Clock, MovableClock
from services.ticket_service.admission import (
    ByPhone,
    CreationKey,
    CreationLimits,
    CustomerRef,
)
from services.ticket_service.creation import Build, Created
from services.ticket_service.documents import Agent, Customer, NameSource
from services.ticket_service.domain.errors import Conflict, NotFound
from services.ticket_service.domain.ids import format_ticket_id
from services.ticket_service.domain.lifecycle import OPEN_STATUSES
from services.ticket_service.domain.model import Change
from services.ticket_service.usecases import TicketUseCases
from tests.support.factories import create_body

Raw = dict[str, Any]
MISSING = object()


# ---- Mongo filters, as far as the ticket listing uses them -----------------------------


def _path(document: Raw, dotted: str) -> Any:
    value: Any = document
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return MISSING
        value = value[part]
    return value


def _equal(value: Any, wanted: Any) -> bool:
    if wanted is None:
        return value is MISSING or value is None
    if isinstance(value, list) and not isinstance(wanted, list):
        return wanted in value
    return value is not MISSING and bool(value == wanted)


def _ordered(value: Any, wanted: Any, compare: Callable[[Any, Any], bool]) -> bool:
    if value is MISSING or value is None or wanted is None:
        return False
    try:
        return compare(value, wanted)
    except TypeError:
        return False


def _operator(value: Any, op: str, argument: Any) -> bool:
    match op:
        case "$in":
            return any(_equal(value, wanted) for wanted in argument)
        case "$nin":
            return not any(_equal(value, wanted) for wanted in argument)
        case "$ne":
            return not _equal(value, argument)
        case "$eq":
            return _equal(value, argument)
        case "$gt":
            return _ordered(value, argument, lambda a, b: a > b)
        case "$gte":
            return _ordered(value, argument, lambda a, b: a >= b)
        case "$lt":
            return _ordered(value, argument, lambda a, b: a < b)
        case "$lte":
            return _ordered(value, argument, lambda a, b: a <= b)
        case "$exists":
            return (value is not MISSING) == bool(argument)
        case _:
            raise NotImplementedError(f"the fake's matcher has no {op}")


def _condition(value: Any, condition: Any) -> bool:
    if isinstance(condition, dict) and condition and all(k.startswith("$") for k in condition):
        if "$regex" in condition:
            flags = re.IGNORECASE if "i" in condition.get("$options", "") else 0
            pattern = re.compile(condition["$regex"], flags)
            return isinstance(value, str) and pattern.search(value) is not None
        return all(_operator(value, op, argument) for op, argument in condition.items())
    return _equal(value, condition)


def matches(document: Raw, query: Raw) -> bool:
    """Whether `document` (as stored: wire field names) matches the Mongo filter."""
    for key, condition in query.items():
        if key == "$and":
            if not all(matches(document, part) for part in condition):
                return False
        elif key == "$or":
            if not any(matches(document, part) for part in condition):
                return False
        elif key.startswith("$"):
            raise NotImplementedError(f"the fake's matcher has no {key}")
        elif not _condition(_path(document, key), condition):
            return False
    return True


def sorted_documents(documents: Iterable[Raw], sort: list[tuple[str, int]]) -> list[Raw]:
    """In Mongo's order: nulls (and missing fields) first ascending, last descending."""
    ordered = list(documents)
    for name, direction in reversed(sort):

        def key(document: Raw, name: str = name) -> tuple[int, Any]:
            value = _path(document, name)
            return (0, 0) if value is MISSING or value is None else (1, value)

        ordered.sort(key=key, reverse=direction == -1)
    return ordered


# ---- tickets -------------------------------------------------------------------------


def stored_form(ticket: Ticket) -> Raw:
    """The ticket as the repository stores it (the fields the listing filters and sorts on)."""
    document = ticket.model_dump(by_alias=True)
    document["priorityRank"] = PRIORITY_ORDER.index(ticket.priority)
    return document


class FakeTickets:
    """`TicketStore` in memory; `outbox` keeps, per ticket, the entries of every change
    written (the repository writes them into the ticket's document with the change)."""

    def __init__(self) -> None:
        self.stored: dict[str, Ticket] = {}
        self.creation_keys: dict[str, str] = {}
        self.outbox: dict[str, list[Raw]] = {}
        self.before_apply: list[Callable[[Ticket, Change], Awaitable[None]]] = []
        """Run before each `apply` checks the revision: a concurrent writer's moment."""

    @property
    def tickets(self) -> AsyncCollection[Raw]:
        raise NotImplementedError("statistics aggregate over MongoDB: integration tests only")

    def insert(self, change: Change, creation_key: str) -> None:
        ticket = change.ticket
        if ticket.ticket_id in self.stored or creation_key in self.creation_keys:
            raise AssertionError(f"{ticket.ticket_id} or {creation_key} stored twice")
        self.stored[ticket.ticket_id] = ticket
        self.creation_keys[creation_key] = ticket.ticket_id
        self.outbox[ticket.ticket_id] = _entries(change)

    def by_creation_key(self, key: str) -> Ticket | None:
        ticket_id = self.creation_keys.get(key)
        return None if ticket_id is None else self.stored[ticket_id]

    def put(self, ticket: Ticket) -> Ticket:
        """Store `ticket` as it is (a test's starting state), replacing any earlier one."""
        self.stored[ticket.ticket_id] = ticket
        self.outbox.setdefault(ticket.ticket_id, [])
        return ticket

    def committed_event_ids(self) -> list[str]:
        return [entry["eventId"] for entries in self.outbox.values() for entry in entries]

    async def get(self, ticket_id: str) -> Ticket | None:
        return self.stored.get(ticket_id)

    async def apply(self, before: Ticket, change: Change) -> Ticket:
        if not change.events and change.ticket == before:
            return before
        for hook in self.before_apply:
            await hook(before, change)
        current = self.stored.get(before.ticket_id)
        if current is None or current.revision != before.revision:
            raise Conflict(
                f"Ticket {before.ticket_id} was changed by someone else; read it again and retry"
            )
        self.stored[before.ticket_id] = change.ticket
        self.outbox.setdefault(before.ticket_id, []).extend(_entries(change))
        return change.ticket

    async def find(
        self, query: Raw, sort: list[tuple[str, int]], skip: int, limit: int
    ) -> list[Ticket]:
        found = [d for d in map(stored_form, self.stored.values()) if matches(d, query)]
        page = sorted_documents(found, sort)[skip : skip + limit]
        return [self.stored[document["ticketId"]] for document in page]

    async def count(self, query: Raw) -> int:
        return sum(1 for d in map(stored_form, self.stored.values()) if matches(d, query))

    async def latest_for_customer(
        self, customer_id: str, conversation_id: str | None
    ) -> Ticket | None:
        base: Raw = {"customerId": customer_id, "status": {"$ne": "cancelled"}}
        queries = [{**base, "conversationId": conversation_id}] if conversation_id else []
        for query in [*queries, base]:
            found = await self.find(query, [("updatedAt", -1)], 0, 1)
            if found:
                return found[0]
        return None


def _entries(change: Change) -> list[Raw]:
    return [
        {"routingKey": e.type, "payload": e.to_wire(), "eventId": e.event_id} for e in change.events
    ]


# ---- customers and agents ------------------------------------------------------------


def _copy(customer: Customer) -> Customer:
    copied: Customer = customer.model_copy()
    return copied


class FakeCustomers:
    """`CustomerStore` in memory, with the repository's naming rule: a name an agent
    entered is never replaced by a WhatsApp profile name."""

    def __init__(self) -> None:
        self.records: dict[str, Customer] = {}

    def add(
        self,
        phone: str,
        now: datetime,
        name: str | None = None,
        language: Language | None = None,
    ) -> Customer:
        customer = Customer.model_construct(
            id=ObjectId(),
            phone_number=phone,
            name=name,
            name_source=NameSource.WHATSAPP if name else None,
            language=language,
            created_at=now,
        )
        self.records[str(customer.id)] = customer
        return _copy(customer)

    def _find_phone(self, phone: str) -> Customer | None:
        return next((c for c in self.records.values() if c.phone_number == phone), None)

    async def by_phone(
        self,
        phone: str,
        now: datetime,
        name: str | None = None,
        language: Language | None = None,
        *,
        create: bool,
        entered_by_agent: bool = False,
        inbound_at: datetime | None = None,
    ) -> Customer | None:
        found = self._find_phone(phone)
        if not create:
            return None if found is None else _copy(found)
        if found is None:
            found = self.records[str(self.add(phone, now).id)]
        if language is not None:
            found.language = language
        if name is not None and entered_by_agent:
            found.name, found.name_source = name, NameSource.AGENT
        elif name is not None and found.name_source is not NameSource.AGENT:
            found.name, found.name_source = name, NameSource.WHATSAPP
        if inbound_at is not None and (
            found.last_inbound_at is None or inbound_at > found.last_inbound_at
        ):
            found.last_inbound_at = inbound_at
        return _copy(found)

    async def by_id(self, customer_id: str) -> Customer | None:
        found = self.records.get(customer_id)
        return None if found is None else _copy(found)

    async def by_ids(self, customer_ids: Iterable[str]) -> dict[str, Customer]:
        return {i: c.model_copy() for i in set(customer_ids) if (c := self.records.get(i))}

    async def ids_matching(self, words: Sequence[str]) -> dict[str, list[str]]:
        return {
            word: [
                i
                for i, c in self.records.items()
                if word.lower() in c.phone_number.lower() or word.lower() in (c.name or "").lower()
            ]
            for word in dict.fromkeys(words)
        }

    async def edit(
        self, customer_id: str, name: str | None, language: Language | None
    ) -> Customer | None:
        found = self.records.get(customer_id)
        if found is None:
            return None
        if language is not None:
            found.language = language
        if name is not None:
            found.name, found.name_source = name, NameSource.AGENT
        return _copy(found)

    async def windows_closing(self, after: datetime, until: datetime, limit: int) -> list[Customer]:
        closing = [
            c
            for c in self.records.values()
            if c.last_inbound_at is not None and after < c.last_inbound_at <= until
        ]
        closing.sort(key=lambda c: c.last_inbound_at or after)
        return [c.model_copy() for c in closing[:limit]]

    async def nudged(self, customer: Customer) -> None:
        found = self.records.get(str(customer.id))
        if found is not None and found.last_inbound_at == customer.last_inbound_at:
            found.window_nudged_for = customer.last_inbound_at


class FakeAgents:
    """`AgentStore` in memory."""

    def __init__(self) -> None:
        self.records: dict[str, Agent] = {}

    def add(
        self,
        now: datetime,
        name: str = "Ana",
        role: AgentRole = AgentRole.AGENT,
        *,
        active: bool = True,
    ) -> str:
        agent = Agent.model_construct(
            id=ObjectId(),
            name=name,
            email=f"{name.lower()}-{uuid.uuid4().hex[:6]}@example.com",
            role=role,
            is_active=active,
            created_at=now,
        )
        self.records[str(agent.id)] = agent
        return str(agent.id)

    async def get(self, agent_id: str) -> Agent | None:
        found = self.records.get(agent_id)
        return None if found is None else _copy(found)

    async def get_many(self, agent_ids: Sequence[str]) -> list[Agent | None]:
        return [await self.get(agent_id) for agent_id in agent_ids]


# ---- once per key, the relay, the creator --------------------------------------------


class FakeIdempotency:
    """`Idempotency` in memory: the work runs once per key (a concurrent duplicate waits
    for it), a failed run records nothing (a retry runs it again), a later call replays
    the recorded result."""

    def __init__(self) -> None:
        self.results: dict[str, Raw] = {}
        self.runs: Counter[str] = Counter()
        self._locks: dict[str, asyncio.Lock] = {}

    async def once[T](
        self,
        key: str,
        work: Callable[[], Awaitable[T]],
        record: Callable[[T], Raw],
        replay: Callable[[Raw], Awaitable[T]],
    ) -> T:
        async with self._locks.setdefault(key, asyncio.Lock()):
            if key in self.results:
                return await replay(self.results[key])
            self.runs[key] += 1
            value = await work()
            self.results[key] = record(value)
            return value


class FakeRelay:
    """`EventRelay` that records what it is handed, in order."""

    def __init__(self) -> None:
        self.published: list[tuple[Any, list[Raw]]] = []

    async def publish_now(self, key: Any, entries: list[Raw]) -> None:
        self.published.append((key, list(entries)))

    @property
    def entries(self) -> list[Raw]:
        return [entry for _, entries in self.published for entry in entries]

    @property
    def routing_keys(self) -> list[str]:
        return [entry["routingKey"] for entry in self.entries]

    @property
    def event_ids(self) -> list[str]:
        return [entry["eventId"] for entry in self.entries]


@dataclass
class FakeCreator:
    """`Creator` over the fake stores: admission (the customer by id, or found or created
    by phone), the hourly limit and the open-ticket cap, the year's next number, the
    insert; a creation key already stored answers its ticket with nothing to publish."""

    tickets: FakeTickets
    customers: FakeCustomers
    clock: Clock
    limits: CreationLimits = field(default_factory=CreationLimits)
    numbers: Counter[int] = field(default_factory=Counter)
    windows: dict[str, list[tuple[str, datetime]]] = field(default_factory=dict)

    async def create(
        self,
        customer: CustomerRef,
        key: CreationKey | None,
        build: Build,
        *,
        limited: bool = True,
    ) -> Created:
        key = key or CreationKey("auto", uuid.uuid4().hex)
        now = self.clock.now()
        record = await self._admit(customer, now)
        customer_id = str(record.id)
        full = key.full(customer_id)
        raw = record.model_dump(by_alias=True)
        window = [
            (k, at) for k, at in self.windows.get(customer_id, []) if at > now - self.limits.window
        ]
        known = any(k == full for k, _ in window)
        if limited and not known and len(window) >= self.limits.per_customer:
            earlier = self.tickets.by_creation_key(full)
            if earlier is None:
                raise self.limits.rate_limited(min(at for _, at in window), now)
            return Created(earlier, None, raw)
        earlier = self.tickets.by_creation_key(full)
        if earlier is not None:
            return Created(earlier, None, raw)
        if limited and self._open(customer_id) >= self.limits.max_open_per_customer:
            raise self.limits.open_cap(self._open(customer_id))
        self.windows[customer_id] = [*window, *([] if known else [(full, now)])]
        self.numbers[now.year] += 1
        change = build(customer_id, format_ticket_id(now.year, self.numbers[now.year]), now)
        self.tickets.insert(change, full)
        return Created(change.ticket, change, raw)

    def _open(self, customer_id: str) -> int:
        return sum(
            1
            for t in self.tickets.stored.values()
            if t.customer_id == customer_id and t.status in OPEN_STATUSES
        )

    async def _admit(self, customer: CustomerRef, now: datetime) -> Customer:
        if isinstance(customer, ByPhone):
            found = await self.customers.by_phone(
                customer.phone,
                now,
                customer.name,
                customer.language,
                create=True,
                entered_by_agent=customer.entered_by_agent,
            )
            assert found is not None
            return found
        by_id = await self.customers.by_id(customer)
        if by_id is None:
            raise NotFound(f"Customer {customer} not found")
        return by_id


@dataclass
class FakeService:
    """The use cases wired to fresh fakes, and the fakes to arrange and inspect."""

    clock: MovableClock
    tickets: FakeTickets
    customers: FakeCustomers
    agents: FakeAgents
    idempotency: FakeIdempotency
    relay: FakeRelay
    creator: FakeCreator
    cases: TicketUseCases


def fake_service(
    start: datetime, policy: SlaPolicy | None = None, limits: CreationLimits | None = None
) -> FakeService:
    clock = MovableClock(start)
    tickets, customers = FakeTickets(), FakeCustomers()
    creator = FakeCreator(tickets, customers, clock, limits or CreationLimits())
    agents, idempotency, relay = FakeAgents(), FakeIdempotency(), FakeRelay()
    cases = TicketUseCases(
        tickets=tickets,
        customers=customers,
        agents=agents,
        idempotency=idempotency,
        relay=relay,
        clock=clock,
        policy=policy or SlaPolicy(),
        creator=creator,
    )
    return FakeService(clock, tickets, customers, agents, idempotency, relay, creator, cases)


# ---- arranging a test's state through the use cases ----------------------------------


async def created_by(
    service: FakeService, phone: str, *, key: str | None = None, **extra: Any
) -> Ticket:
    """A ticket the customer with `phone` opened themselves."""
    body = create_body(phone, **extra)
    if key is not None:
        body["idempotencyKey"] = key
    return await service.cases.create(cmd.CreateTicket.model_validate(body))


async def walked(service: FakeService, ticket_id: str, *statuses: TicketStatus) -> Ticket:
    """The ticket moved through `statuses` by the System."""
    ticket = await service.tickets.get(ticket_id)
    assert ticket is not None
    for status in statuses:
        ticket = await service.cases.change_status(
            cmd.ChangeStatus(actor=SystemActor(), ticket_id=ticket_id, status=status)
        )
    return ticket
