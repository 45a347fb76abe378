"""Race safety at the storage edge and the yearly ID sequence, over the Mongo wire server."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from contracts import commands as cmd
from contracts import names
from contracts.enums import ActorType, TicketStatus
from infra.clock import MovableClock
from services.ticket_service.domain.errors import Conflict
from services.ticket_service.domain.model import ActorRef, change_status
from services.ticket_service.main import TicketService
from tests.support.factories import SYSTEM, create_body
from tests.support.system import Endpoints, client, running, settings_for

pytestmark = pytest.mark.integration


async def test_two_writers_from_the_same_read_one_wins_one_conflicts(
    endpoints: Endpoints, database: str
) -> None:
    """No expected revision here: the conditional update alone decides the race."""
    settings = settings_for(endpoints, database)
    service = TicketService()
    async with running(settings, [service]):
        use_cases = service.use_cases()
        ticket = await use_cases.create(cmd.CreateTicket.model_validate(create_body()))
        system = ActorRef(ActorType.SYSTEM)
        now = use_cases.clock.now()
        to_open = change_status(ticket, TicketStatus.OPEN, system, now, settings.sla)
        to_cancel = change_status(ticket, TicketStatus.CANCELLED, system, now, settings.sla)
        outcomes = await asyncio.gather(
            use_cases.tickets.apply(ticket, to_open),
            use_cases.tickets.apply(ticket, to_cancel),
            return_exceptions=True,
        )
        stored = await use_cases.tickets.get(ticket.ticket_id)
    assert sum(isinstance(o, Conflict) for o in outcomes) == 1
    winner = next(o for o in outcomes if not isinstance(o, BaseException))
    assert stored is not None
    assert stored.status == winner.status
    assert len(stored.status_history) == 2


async def test_the_sequence_restarts_each_year(endpoints: Endpoints, database: str) -> None:
    clock = MovableClock(datetime(2026, 12, 31, 23, 59, 58, tzinfo=UTC))
    settings = settings_for(endpoints, database)
    async with running(settings, clock=clock), client(endpoints.rabbit_url) as (caller, _):
        december = [await caller.ok(names.CREATE, create_body()) for _ in range(2)]
        clock.advance(timedelta(seconds=3))
        january = [await caller.ok(names.CREATE, create_body()) for _ in range(2)]
        looked_up = await caller.ok(names.GET, {"actor": SYSTEM, "ticketId": "TICKET-2026-000002"})
    assert [t["ticketId"] for t in december] == ["TICKET-2026-000001", "TICKET-2026-000002"]
    assert [t["ticketId"] for t in january] == ["TICKET-2027-000001", "TICKET-2027-000002"]
    assert looked_up["createdAt"].startswith("2026-12-31T23:59:5")
