"""The outbox relay: what a crash left unsent is published after a restart, once."""

from datetime import UTC, datetime, timedelta

import pytest

from contracts import commands as cmd
from contracts import names
from contracts.enums import ActorType, Category, Channel, Priority, Source
from contracts.sla import SlaPolicy
from infra.clock import MovableClock
from services.ticket_service.documents import TicketDocument
from services.ticket_service.domain.ids import format_ticket_id
from services.ticket_service.domain.model import ActorRef
from services.ticket_service.domain.operations import NewTicket, open_ticket
from services.ticket_service.main import TicketService
from services.ticket_service.repository import TicketRepository
from tests.support.factories import SYSTEM, create_body
from tests.support.system import Endpoints, client, published, running, settings_for

pytestmark = pytest.mark.integration


async def test_events_written_but_not_published_go_out_after_restart(
    endpoints: Endpoints, database: str
) -> None:
    clock = MovableClock(datetime(2026, 6, 1, 12, 0, tzinfo=UTC))
    settings = settings_for(endpoints, database, relay_grace_seconds=10)
    # A process that committed two tickets and died before its relay published anything:
    # the same state a crash between the write and the publish leaves behind.
    async with running(settings, clock=clock):
        repository = TicketRepository()
        for sequence in (1, 2):
            data = NewTicket(
                ticket_id=format_ticket_id(2026, sequence),
                title="Crashed before publish",
                description="Written, never published.",
                customer_id="c" * 24,
                category=Category.OTHER,
                priority=Priority.LOW,
                source=Source.SYSTEM,
                channel=Channel.WEB,
            )
            await repository.insert(
                open_ticket(data, ActorRef(ActorType.SYSTEM), clock.now(), SlaPolicy()),
                f"test:{sequence}",
            )
    clock.advance(timedelta(seconds=11))
    async with client(endpoints.rabbit_url) as (_, log):
        async with running(settings, clock=clock):
            await log.wait_for(2)
            await published()
            await log.barrier()
        assert sorted(e["ticketId"] for e in log.events) == [
            "TICKET-2026-000001",
            "TICKET-2026-000002",
        ]
        assert {e["type"] for e in log.events} == {"ticket.created"}


async def test_a_fresh_event_is_left_to_its_writer_by_the_sweep(
    endpoints: Endpoints, database: str
) -> None:
    clock = MovableClock(datetime(2026, 6, 1, 12, 0, tzinfo=UTC))
    settings = settings_for(endpoints, database, relay_grace_seconds=10)
    async with (
        running(settings, clock=clock) as runtime,
        client(endpoints.rabbit_url) as (
            caller,
            log,
        ),
    ):
        ticket = await caller.ok(names.CREATE, create_body())
        await log.wait_for(1)
        service = runtime.services[0]
        relay = getattr(service, "relay", None)
        assert relay is not None
        assert await relay.sweep() == 0  # already published by the writer, nothing left
        await caller.ok(names.GET, {"actor": SYSTEM, "ticketId": ticket["ticketId"]})
        await published()
        await log.barrier()
    assert [e["type"] for e in log.events] == ["ticket.created"]


async def test_a_broker_outage_at_publish_time_keeps_the_events_for_the_sweep(
    endpoints: Endpoints, database: str
) -> None:
    clock = MovableClock(datetime(2026, 6, 1, 12, 0, tzinfo=UTC))
    settings = settings_for(endpoints, database, relay_grace_seconds=10)
    service = TicketService()
    async with running(settings, [service], clock) as runtime:
        assert runtime.context is not None
        await runtime.context.broker.stop()  # the broker goes away under the writer
        ticket = await service.use_cases().create(cmd.CreateTicket.model_validate(create_body()))
        stored = await TicketDocument.get_pymongo_collection().find_one(
            {"ticketId": ticket.ticket_id}
        )
    assert stored is not None
    assert [entry["routingKey"] for entry in stored["outbox"]] == ["ticket.created"]
    clock.advance(timedelta(seconds=11))
    async with client(endpoints.rabbit_url) as (_, log), running(settings, clock=clock):
        await log.wait_for(1)
    assert [(e["type"], e["ticketId"]) for e in log.events] == [
        ("ticket.created", ticket.ticket_id)
    ]
