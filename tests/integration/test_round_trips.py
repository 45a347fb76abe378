"""Database round trips per command, counted by PyMongo's command monitoring while the
real ticket service handles each message from the real queue, and checked against the
table in docs/performance.md (so the table cannot go stale)."""

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from contracts import names
from contracts.enums import AgentRole
from infra.clock import MovableClock
from tests.support.factories import agent_actor, create_body, customer, make_agent
from tests.support.round_trips import RoundTrips, listening
from tests.support.system import Caller, Endpoints, client, running, settings_for

pytestmark = pytest.mark.integration

PERFORMANCE = Path(__file__).parents[2] / "docs" / "performance.md"
SECTION = "## Database round trips per command"
ROW = re.compile(r"^\| `(?P<queue>tickets\.v1\.[a-z_]+)` \| (?P<case>[^|]+?) \| (?P<n>\d+) \|$")
CUSTOMER_CREATE_LIMIT = 5
START = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
PHONE_A = "+34611000001"
PHONE_B = "+34611000002"

Measured = dict[tuple[str, str], int]


def documented() -> Measured:
    """The table of docs/performance.md: (queue, case) -> round trips."""
    text = PERFORMANCE.read_text(encoding="utf-8")
    assert SECTION in text, f"{PERFORMANCE} has no section {SECTION!r}"
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    rows = [ROW.match(line.strip()) for line in section.splitlines()]
    table = {(m["queue"], m["case"]): int(m["n"]) for m in rows if m}
    assert table, f"no rows in {SECTION!r}"
    return table


class Measure:
    def __init__(self, caller: Caller, trips: RoundTrips) -> None:
        self.caller = caller
        self.trips = trips
        self.found: Measured = {}
        self.sent: dict[tuple[str, str], list[str]] = {}

    async def ok(self, queue: str, case: str, body: dict[str, Any]) -> dict[str, Any]:
        watched = self.trips.watch()
        reply = await self.caller.requests.request(queue, body, timeout=30, correlation_id=watched)
        assert reply["ok"] is True, (queue, case, reply)
        commands = self.trips.of(watched)
        self.found[queue, case] = len(commands)
        self.sent[queue, case] = commands
        data: dict[str, Any] = reply["data"]
        return data


async def every_command(measure: Measure, clock: MovableClock) -> None:
    """One of each command, in an order a ticket's life takes."""
    agent = agent_actor(await make_agent("Rita", AgentRole.AGENT))
    admin = agent_actor(await make_agent("Olga", AgentRole.ADMIN))
    system = {"type": "System"}
    create = names.CREATE
    first = await measure.ok(
        create, "a new customer's first ticket", create_body(PHONE_A, idempotencyKey="k1")
    )
    await measure.ok(create, "a customer's next ticket", create_body(PHONE_A, idempotencyKey="k2"))
    await measure.ok(
        create, "a retry with the same idempotencyKey", create_body(PHONE_A, idempotencyKey="k1")
    )
    await measure.ok(
        create, "an agent, customer by phone", {**create_body(PHONE_B), "actor": agent}
    )
    by_id = {"customerId": first["customerId"]}
    second = await measure.ok(
        create, "an agent, customer by id", {**create_body(), "actor": agent, "customer": by_id}
    )
    ticket = {"ticketId": first["ticketId"]}
    await measure.ok(names.GET, "an agent's first view (new -> open)", {"actor": agent, **ticket})
    await measure.ok(names.GET, "an agent, seen before", {"actor": agent, **ticket})
    await measure.ok(names.GET, "the customer", {"actor": customer(PHONE_A), **ticket})
    await measure.ok(names.LIST, "an admin, first page", {"actor": admin})
    await measure.ok(names.LIST, "an agent, first page", {"actor": agent})
    await measure.ok(names.LIST, "a customer", {"actor": customer(PHONE_A)})
    await measure.ok(names.LIST, "an admin, q (one word)", {"actor": admin, "q": "order"})
    first_page = await measure.caller.ok(names.LIST, {"actor": admin, "limit": 1})
    cursor = first_page["pagination"]["nextCursor"]
    await measure.ok(
        names.LIST, "an admin, next page by cursor", {"actor": admin, "limit": 1, "cursor": cursor}
    )
    await measure.ok(names.ASSIGN, "an agent", {"actor": agent, **ticket, "agentId": agent["id"]})
    await measure.ok(
        names.CHANGE_STATUS, "an agent", {"actor": agent, **ticket, "status": "pending_customer"}
    )
    message = {
        "actor": customer(PHONE_A),
        "messageId": "wamid.1",
        "text": "Here is the receipt",
        "receivedAt": clock.now().isoformat(),
    }
    await measure.ok(names.CUSTOMER_MESSAGE, "resumes the ticket", message)
    await measure.ok(names.CUSTOMER_MESSAGE, "the same message again", message)
    await measure.ok(names.ADD_NOTE, "an agent", {"actor": agent, **ticket, "content": "Checked"})
    await measure.ok(names.MARK_FIRST_RESPONSE, "an agent", {"actor": agent, **ticket})
    await measure.ok(
        names.ESCALATE_PRIORITY, "the customer", {"actor": customer(PHONE_A), **ticket}
    )
    await measure.ok(names.UPDATE, "an agent", {"actor": agent, **ticket, "tags": ["late"]})
    await measure.ok(names.UNASSIGN, "an agent", {"actor": agent, **ticket})
    clock.advance(timedelta(days=3))
    breach = {
        "actor": system,
        "ticketId": second["ticketId"],
        "kind": "first_response",
        "dueAt": second["sla"]["firstResponseDueAt"],
        "detectedAt": clock.now().isoformat(),
    }
    await measure.ok(names.RECORD_SLA_BREACH, "the SLA monitor", breach)
    await measure.ok(
        names.CHANGE_STATUS, "an admin resolves", {"actor": admin, **ticket, "status": "resolved"}
    )
    await measure.ok(
        names.RATE, "the customer", {"actor": customer(PHONE_A), **ticket, "rating": 5}
    )
    message = {**message, "messageId": "wamid.2", "receivedAt": clock.now().isoformat()}
    await measure.ok(names.CUSTOMER_MESSAGE, "reopens the resolved ticket", message)
    await measure.ok(names.RECORD_MESSAGES, "the System, two messages", recorded(clock.now()))


def recorded(at: datetime) -> dict[str, Any]:
    """Two messages of the assistant's turn, on PHONE_B's ticket."""
    said = {"direction": "inbound", "authorType": "customer", "text": "Where is it?"}
    answer = {"direction": "outbound", "authorType": "assistant", "text": "Let me look."}
    return {
        "actor": {"type": "System"},
        "customer": {"phone": PHONE_B},
        "messages": [
            {**said, "messageId": "web-1", "sentAt": at.isoformat()},
            {**answer, "messageId": "web-2", "sentAt": at.isoformat()},
        ],
    }


async def test_round_trips_per_command_are_the_documented_ones(
    endpoints: Endpoints, database: str
) -> None:
    trips = listening()
    clock = MovableClock(START)
    settings = settings_for(endpoints, database)
    async with running(settings, clock=clock), client(endpoints.rabbit_url) as (caller, _):
        measure = Measure(caller, trips)
        await every_command(measure, clock)
    table = documented()
    details = "\n".join(
        f"{queue} / {case}: {len(sent)}: {', '.join(sent)}"
        for (queue, case), sent in measure.sent.items()
    )
    assert measure.found == table, f"measured (update {PERFORMANCE.name}):\n{details}"
    for case in ("a new customer's first ticket", "a customer's next ticket"):
        assert measure.found[names.CREATE, case] <= CUSTOMER_CREATE_LIMIT, case
    assert {queue for queue, _ in table} == set(names.COMMAND_QUEUES)
