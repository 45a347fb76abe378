"""Creating tickets exactly once, whatever dies when: concurrency, limits, and a worker
that dies between any two steps of a creation, then the client's retry with the same key."""

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from contracts import names
from infra.clock import MovableClock
from infra.mongo import connect
from infra.runtime import Runtime
from services.ticket_service.creation import TicketCreator
from services.ticket_service.main import TicketService
from tests.support.factories import create_body
from tests.support.system import Endpoints, EventLog, client, running, settings_for

pytestmark = pytest.mark.integration

START = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
YEAR = START.year
"""Tests on a MovableClock number in START's year; the others in the current year."""


class WorkerDied(Exception):
    """Stands for the process dying right after the wrapped step: nothing after it runs."""


@contextmanager
def dies_after(target: object, step: str) -> Iterator[None]:
    """The first call of `target.step` completes its write, then the worker 'dies'."""
    original = getattr(target, step)
    armed = [True]

    async def step_then_die(*args: Any, **kwargs: Any) -> Any:
        result = await original(*args, **kwargs)
        if armed.pop() if armed else False:
            raise WorkerDied(step)
        return result

    setattr(target, step, step_then_die)
    try:
        yield
    finally:
        setattr(target, step, original)


def service(runtime: Runtime) -> TicketService:
    found = runtime.services[0]
    assert isinstance(found, TicketService)
    return found


def creator_of(runtime: Runtime) -> TicketCreator:
    creator = service(runtime).use_cases().creator
    assert isinstance(creator, TicketCreator)
    return creator


async def stored(endpoints: Endpoints, database: str) -> dict[str, Any]:
    """What the database holds: tickets, counters, customers."""
    async with connect(endpoints.mongo_url) as mongo:
        db = mongo[database]
        tickets = [t async for t in db.tickets.find({}, {"ticketId": 1, "customerId": 1})]
        counters = [c async for c in db.ticket_counters.find({})]
        customers = [c async for c in db.customers.find({})]
    return {"tickets": tickets, "counters": counters, "customers": customers}


def per_customer(state: dict[str, Any]) -> dict[str, int]:
    """Tickets per customer id (the customer's `totalTickets` is counted from them)."""
    found: dict[str, int] = {}
    for ticket in state["tickets"]:
        found[ticket["customerId"]] = found.get(ticket["customerId"], 0) + 1
    return found


def sequences(tickets: list[dict[str, Any]]) -> list[int]:
    return sorted(int(t["ticketId"].rsplit("-", 1)[1]) for t in tickets)


def created_event_ids(log: EventLog) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for event in log.events:
        if event["type"] == "ticket.created":
            found.setdefault(event["ticketId"], set()).add(event["eventId"])
    return found


async def test_300_concurrent_creates_over_50_customers_all_succeed(
    endpoints: Endpoints, database: str
) -> None:
    settings = settings_for(endpoints, database)
    phones = [f"+3461{i:07d}" for i in range(50)]
    bodies = [create_body(p, idempotencyKey=f"k{n}") for p in phones for n in range(6)]
    async with running(settings), running(settings), client(endpoints.rabbit_url) as (caller, _):
        replies = await asyncio.gather(
            *[caller.call(names.CREATE, body, timeout=300) for body in bodies]
        )
    refused = [r for r in replies if not r["ok"]]
    assert refused == []
    state = await stored(endpoints, database)
    assert sequences(state["tickets"]) == list(range(1, 301))
    assert [c["lastSequence"] for c in state["counters"]] == [300]
    assert [c["pending"] for c in state["counters"]] == [[]]
    assert sorted(per_customer(state).values()) == [6] * 50
    assert len(state["customers"]) == 50


async def test_eleven_concurrent_for_one_customer_exactly_ten_succeed(
    endpoints: Endpoints, database: str
) -> None:
    settings = settings_for(endpoints, database)
    bodies = [create_body(idempotencyKey=f"k{n}") for n in range(11)]
    async with running(settings), running(settings), client(endpoints.rabbit_url) as (caller, _):
        replies = await asyncio.gather(*[caller.call(names.CREATE, body) for body in bodies])
    assert sorted(r["ok"] for r in replies) == [False] + [True] * 10
    [refused] = [r for r in replies if not r["ok"]]
    assert refused["error"]["code"] == "rate_limited"
    state = await stored(endpoints, database)
    assert sequences(state["tickets"]) == list(range(1, 11))
    assert list(per_customer(state).values()) == [10]


STEPS = [
    ("creations", "admit"),
    ("numbers", "number_for"),
    ("tickets", "insert"),
]


@pytest.mark.parametrize(("part", "step"), STEPS)
async def test_a_worker_dying_after_any_step_then_a_retry_leaves_one_ticket_and_exact_counts(
    endpoints: Endpoints, database: str, part: str, step: str
) -> None:
    clock = MovableClock(START)
    settings = settings_for(endpoints, database)
    body = create_body(idempotencyKey="call_1")
    async with running(settings, clock=clock) as runtime, client(endpoints.rabbit_url) as (c, log):
        ticket_service = service(runtime)
        creator = ticket_service.use_cases().creator
        with dies_after(getattr(creator, part), step):
            died = await c.call(names.CREATE, body)
        retried = await c.ok(names.CREATE, body)
        again = await c.ok(names.CREATE, body)
        clock.advance(timedelta(seconds=settings.relay_grace_seconds + 1))
        assert ticket_service.relay is not None
        await ticket_service.relay.sweep()
        await log.wait_for(1)
        next_one = await c.ok(names.CREATE, create_body(idempotencyKey="call_2"))
    assert died["error"]["code"] == "internal"
    assert retried["ticketId"] == again["ticketId"] == f"TICKET-{YEAR}-000001"
    assert next_one["ticketId"] == f"TICKET-{YEAR}-000002"
    state = await stored(endpoints, database)
    assert sequences(state["tickets"]) == [1, 2]
    [owner] = state["customers"]
    assert per_customer(state) == {str(owner["_id"]): 2}
    assert len(owner["ticketCreations"]) == 2
    assert len(created_event_ids(log)[retried["ticketId"]]) == 1


async def test_a_stored_ticket_whose_creator_died_and_never_retried_is_announced_once(
    endpoints: Endpoints, database: str
) -> None:
    clock = MovableClock(START)
    settings = settings_for(endpoints, database)
    async with running(settings, clock=clock) as runtime, client(endpoints.rabbit_url) as (c, log):
        ticket_service = service(runtime)
        with dies_after(creator_of(runtime).tickets, "insert"):
            died = await c.call(names.CREATE, create_body(idempotencyKey="gone"))
        clock.advance(timedelta(seconds=settings.relay_grace_seconds + 1))
        assert ticket_service.relay is not None
        await ticket_service.relay.sweep()
        await ticket_service.relay.sweep()  # a second sweep announces nothing more
        await log.wait_for(1)
    assert died["error"]["code"] == "internal"
    state = await stored(endpoints, database)
    assert sequences(state["tickets"]) == [1]
    assert list(per_customer(state).values()) == [1]
    assert [e["type"] for e in log.events] == ["ticket.created"]


async def test_a_number_left_by_a_dead_creator_goes_to_the_next_ticket_no_gap(
    endpoints: Endpoints, database: str
) -> None:
    clock = MovableClock(START)
    settings = settings_for(endpoints, database)
    lease = timedelta(seconds=settings.idempotency_lease_seconds)
    async with running(settings, clock=clock) as runtime, client(endpoints.rabbit_url) as (c, _):
        creator = creator_of(runtime)
        with dies_after(creator.numbers, "number_for"):
            died = await c.call(names.CREATE, create_body(idempotencyKey="abandoned"))
        soon = await c.ok(names.CREATE, create_body(idempotencyKey="soon"))
        clock.advance(lease + timedelta(seconds=1))
        later = await c.ok(names.CREATE, create_body(idempotencyKey="later"))
        came_back = await c.ok(names.CREATE, create_body(idempotencyKey="abandoned"))
    assert died["error"]["code"] == "internal"
    assert soon["ticketId"] == f"TICKET-{YEAR}-000002"  # 1 is still reserved for "abandoned"
    assert later["ticketId"] == f"TICKET-{YEAR}-000001"  # taken over once the lease ran out
    assert came_back["ticketId"] == f"TICKET-{YEAR}-000003"
    state = await stored(endpoints, database)
    assert sequences(state["tickets"]) == [1, 2, 3]


async def test_leftover_numbers_of_stored_tickets_are_never_given_twice(
    endpoints: Endpoints, database: str
) -> None:
    """A replica stored tickets and died before clearing their numbers: another replica
    that takes those numbers over finds them taken and moves on, without a gap."""
    clock = MovableClock(START)
    settings = settings_for(endpoints, database)
    lease = timedelta(seconds=settings.idempotency_lease_seconds)
    async with running(settings, clock=clock) as runtime, client(endpoints.rabbit_url) as (c, _):
        numbers = creator_of(runtime).numbers
        first = [await c.ok(names.CREATE, create_body(f"+3462000000{i}")) for i in range(6)]
        numbers.stored = lambda year, *keys: None  # type: ignore[method-assign]
        more = [await c.ok(names.CREATE, create_body(f"+3462000001{i}")) for i in range(3)]
        del numbers.stored
        clock.advance(lease + timedelta(seconds=1))
        after = [await c.ok(names.CREATE, create_body(f"+3462000002{i}")) for i in range(3)]
    ids = [t["ticketId"] for t in first + more + after]
    assert sorted(int(i.rsplit("-", 1)[1]) for i in ids) == list(range(1, 13))


async def test_a_late_retry_is_answered_without_spending_the_hourly_budget(
    endpoints: Endpoints, database: str
) -> None:
    clock = MovableClock(START)
    settings = settings_for(endpoints, database, max_open_tickets_per_customer=100)
    async with running(settings, clock=clock), client(endpoints.rabbit_url) as (c, _):
        original = await c.ok(names.CREATE, create_body(idempotencyKey="early"))
        clock.advance(timedelta(minutes=61))
        for n in range(10):
            await c.ok(names.CREATE, create_body(idempotencyKey=f"k{n}"))
        replay_when_full = await c.call(names.CREATE, create_body(idempotencyKey="early"))
        over = await c.call(names.CREATE, create_body(idempotencyKey="one-too-many"))
        clock.advance(timedelta(minutes=59, seconds=59))
        replay_with_room = await c.ok(names.CREATE, create_body(idempotencyKey="early"))
        still_full = await c.call(names.CREATE, create_body(idempotencyKey="still"))
    assert replay_when_full["data"]["ticketId"] == original["ticketId"]
    assert over["error"]["code"] == "rate_limited"
    assert replay_with_room["ticketId"] == original["ticketId"]
    assert still_full["error"]["code"] == "rate_limited"
    state = await stored(endpoints, database)
    assert list(per_customer(state).values()) == [11]
    assert len(state["customers"]) == 1


async def test_the_open_ticket_cap_counts_a_creation_once_while_it_is_being_stored(
    endpoints: Endpoints, database: str
) -> None:
    """The ticket is stored but its creator has not finished: a concurrent creation sees
    it once (stored), not twice (stored and in flight)."""
    settings = settings_for(endpoints, database, max_open_tickets_per_customer=2)
    async with running(settings) as runtime, client(endpoints.rabbit_url) as (c, _):
        creator = creator_of(runtime)
        first = await c.ok(names.CREATE, create_body(idempotencyKey="a"))
        with dies_after(creator.tickets, "insert"):
            await c.call(names.CREATE, create_body(idempotencyKey="b-in-flight"))
        third = await c.call(names.CREATE, create_body(idempotencyKey="c"))
    assert first["ticketId"].endswith("000001")
    assert third["error"]["code"] == "rate_limited"
    assert "2 open tickets" in third["error"]["message"]


async def test_a_creator_that_died_after_admission_holds_a_cap_place_until_its_lease_lapses(
    endpoints: Endpoints, database: str
) -> None:
    clock = MovableClock(START)
    settings = settings_for(endpoints, database, max_open_tickets_per_customer=1)
    async with running(settings, clock=clock) as runtime, client(endpoints.rabbit_url) as (c, _):
        creator = creator_of(runtime)
        with dies_after(creator.creations, "admit"):
            await c.call(names.CREATE, create_body(idempotencyKey="died"))
        held = await c.call(names.CREATE, create_body(idempotencyKey="x"))
        clock.advance(timedelta(minutes=2, seconds=1))
        lapsed = await c.call(names.CREATE, create_body(idempotencyKey="y"))
    assert held["error"]["code"] == "rate_limited"
    assert "1 open tickets" in held["error"]["message"]
    assert lapsed["ok"], lapsed
