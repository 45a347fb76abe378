"""What a customer's message does to their tickets, with a movable clock."""

from datetime import UTC, datetime, timedelta

import pytest

from contracts import names
from infra.clock import MovableClock
from tests.support.factories import SYSTEM, create_body, customer
from tests.support.system import Caller, Endpoints, client, running, settings_for

pytestmark = pytest.mark.integration


def message(message_id: str, text: str = "Hello again, it broke once more") -> dict[str, object]:
    return {
        "actor": customer(),
        "messageId": message_id,
        "text": text,
        "receivedAt": "2026-01-10T10:00:00Z",
    }


async def closed_ticket(caller: Caller) -> str:
    ticket = await caller.ok(names.CREATE, create_body())
    ticket_id: str = ticket["ticketId"]
    for status in ("open", "in_progress", "resolved", "closed"):
        await caller.ok(
            names.CHANGE_STATUS, {"actor": SYSTEM, "ticketId": ticket_id, "status": status}
        )
    return ticket_id


async def test_a_message_after_the_reopen_window_opens_a_linked_follow_up(
    endpoints: Endpoints, database: str
) -> None:
    clock = MovableClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    settings = settings_for(endpoints, database)
    async with running(settings, clock=clock), client(endpoints.rabbit_url) as (caller, log):
        old = await closed_ticket(caller)
        clock.advance(settings.sla.reopen_window + timedelta(seconds=1))
        outcome = await caller.ok(names.CUSTOMER_MESSAGE, message("wamid.late", "hi"))
        redelivered = await caller.ok(names.CUSTOMER_MESSAGE, message("wamid.late", "hi"))
        old_after = await caller.ok(names.GET, {"actor": SYSTEM, "ticketId": old})
        await log.wait_for(6)
    assert outcome["action"] == "follow_up_created"
    assert redelivered == outcome
    assert outcome["relatedTicketId"] == old
    follow_up = outcome["ticket"]
    assert follow_up["relatedTickets"] == [old]
    assert follow_up["title"] == f"Follow-up to {old}"
    assert follow_up["description"] == "Customer wrote: hi"
    assert follow_up["source"] == "customer"
    assert old_after["status"] == "closed"
    assert [e["type"] for e in log.of(follow_up["ticketId"])] == ["ticket.created"]


async def test_a_message_with_no_ticket_changes_nothing(
    endpoints: Endpoints, database: str
) -> None:
    settings = settings_for(endpoints, database)
    async with running(settings), client(endpoints.rabbit_url) as (caller, _):
        outcome = await caller.ok(names.CUSTOMER_MESSAGE, message("wamid.1"))
        listed = await caller.ok(names.LIST, {"actor": customer()})
    assert outcome == {"action": "none", "ticket": None, "relatedTicketId": None}
    assert listed["pagination"]["total"] == 0


async def test_a_message_to_a_working_ticket_leaves_its_status(
    endpoints: Endpoints, database: str
) -> None:
    settings = settings_for(endpoints, database)
    async with running(settings), client(endpoints.rabbit_url) as (caller, _):
        ticket = await caller.ok(names.CREATE, create_body())
        outcome = await caller.ok(names.CUSTOMER_MESSAGE, message("wamid.2"))
    assert outcome["action"] == "none"
    assert outcome["ticket"]["ticketId"] == ticket["ticketId"]
    assert outcome["ticket"]["status"] == "new"
