"""Every event delivered twice: the SLA monitor's timers and the webhooks come out exactly
as with one delivery (consumers deduplicate by eventId or by the ticket's revision)."""

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aio_pika
import pytest
from faststream.rabbit import RabbitBroker

from contracts import names
from infra.messaging import EVENTS
from infra.mongo import connect
from infra.settings import NotifierSettings
from services.notifier.documents import Webhook
from services.notifier.handlers import WEBHOOK_QUEUE
from services.notifier.main import Notifier
from services.notifier.repository import WebhookStore
from services.sla_monitor.main import SlaMonitor
from services.ticket_service.main import TicketService
from tests.support.factories import SYSTEM, create_body
from tests.support.infra import broker_rows, rabbit_vhost
from tests.support.notifier_system import Receiver, receiving
from tests.support.system import Caller, Endpoints, client, running, settings_for
from tests.support.waiting import eventually

pytestmark = [pytest.mark.integration, pytest.mark.faults]

TEST_BOUND_SECONDS = 240
CONSUMED = [names.SLA_MONITOR_TICKET_EVENTS, WEBHOOK_QUEUE]


def _queue_depths(rabbit_url: str) -> dict[str, int]:
    rows = broker_rows(rabbit_url, "list_queues", "name", "messages")
    return {name: int(count) for name, count in rows if count.isdigit()}


async def drained(rabbit_url: str) -> None:
    """Until the consumers hold no message, delivered or not (ready + unacknowledged)."""

    async def empty() -> bool:
        depths = await asyncio.to_thread(_queue_depths, rabbit_url)
        return not any(depths.get(queue) for queue in CONSUMED)

    await eventually(empty, what="the consumed queues to drain", interval=0.2)


@dataclass
class Tap:
    """Every event as published (body, routing key, message id), to publish again."""

    events: list[tuple[bytes, str, str]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def copies(self) -> Counter[str]:
        return Counter(event_id for _, _, event_id in self.events)

    async def wait_until(self, done: Callable[[], bool]) -> None:
        await eventually(done, what="the tapped events", wake=self.arrived)


@asynccontextmanager
async def tapping(rabbit_url: str) -> AsyncIterator[Tap]:
    tap = Tap()
    connection = await aio_pika.connect(rabbit_url)
    try:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(
            EVENTS.name, aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(exchange, routing_key="#")

        async def collect(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            tap.events.append((message.body, message.routing_key or "", message.message_id or ""))
            tap.arrived.set()

        await queue.consume(collect, no_ack=True)
        yield tap
    finally:
        await connection.close()


async def scenario(caller: Caller) -> list[str]:
    """Tickets that get created, answered, paused, escalated, resolved: many kinds of
    event, each re-planning SLA timers."""
    ids = []
    for n in range(6):
        body = create_body(f"+34660000{n:03d}", idempotencyKey=f"k{n}", priority="high")
        ids.append((await caller.ok(names.CREATE, body))["ticketId"])
    for ticket_id in ids[:4]:
        await caller.ok(names.MARK_FIRST_RESPONSE, {"actor": SYSTEM, "ticketId": ticket_id})
    for status in ("in_progress", "pending_customer"):  # answered: already open
        await caller.ok(
            names.CHANGE_STATUS, {"actor": SYSTEM, "ticketId": ids[0], "status": status}
        )
    await caller.ok(
        names.ESCALATE_PRIORITY, {"actor": SYSTEM, "ticketId": ids[1], "priority": "urgent"}
    )
    for status in ("in_progress", "resolved"):
        await caller.ok(
            names.CHANGE_STATUS, {"actor": SYSTEM, "ticketId": ids[2], "status": status}
        )
    return ids


async def snapshot(mongo_url: str, database: str) -> dict[str, Any]:
    async with connect(mongo_url) as mongo:
        db = mongo[database]
        timers = [t async for t in db.sla_timers.find({}, {"leaseUntil": 0})]
        deliveries = [d async for d in db.webhook_deliveries.find({}, {"eventId": 1})]
    return {
        "timers": sorted(timers, key=lambda t: t["_id"]),
        "deliveries": sorted(d["eventId"] for d in deliveries),
    }


async def test_every_event_delivered_twice_changes_nothing(
    endpoints: Endpoints, database: str
) -> None:
    async with (
        asyncio.timeout(TEST_BOUND_SECONDS),
        rabbit_vhost() as rabbit,
        receiving() as receiver,
        tapping(rabbit) as tap,
    ):
        notifier = NotifierSettings(webhook_allow_private_targets=True, webhook_poll_seconds=0.1)
        settings = settings_for(
            endpoints, database, jwt_secret="twice-suite-secret-0123456789abcdef", notifier=notifier
        ).model_copy(update={"rabbitmq_url": rabbit})
        services: list[Any] = [TicketService(), SlaMonitor(), Notifier()]
        async with running(settings, services), client(rabbit) as (caller, _):
            await _hook(endpoints.mongo_url, database, receiver)
            await scenario(caller)
            await drained(rabbit)
            once = len(tap.events)
            first = await snapshot(endpoints.mongo_url, database)
            await receiver_got(receiver, len(first["deliveries"]))
            await _publish_again(rabbit, tap.events[:once])
            await tap.wait_until(lambda: set(tap.copies().values()) == {2})
            await drained(rabbit)
            second = await snapshot(endpoints.mongo_url, database)
    assert len(first["deliveries"]) == once
    assert set(Counter(first["deliveries"]).values()) == {1}
    assert second == first
    assert len(first["timers"]) > 0


async def receiver_got(receiver: Receiver, count: int) -> None:
    await eventually(
        lambda: len(receiver.requests) >= count,
        what=f"{count} webhook requests",
        wake=receiver.arrived,
    )


async def _publish_again(rabbit_url: str, events: list[tuple[bytes, str, str]]) -> None:
    broker = RabbitBroker(rabbit_url, logger=None)
    await broker.start()
    try:
        for body, routing_key, event_id in events:
            await broker.publish(
                body,
                exchange=EVENTS,
                routing_key=routing_key,
                message_id=event_id,
                persist=True,
                content_type="application/json",
            )
    finally:
        await broker.stop()


async def _hook(mongo_url: str, database: str, receiver: Receiver) -> None:
    """One webhook for every event type, pointed at the test's receiver."""
    now = datetime.now(UTC)
    async with connect(mongo_url) as mongo:
        await WebhookStore(mongo[database]).add(
            Webhook(
                id=uuid.uuid4().hex,
                url=receiver.url,
                events=["*"],
                secret="whsec_twice_0123456789abcdef",
                created_by="test",
                created_at=now,
                updated_at=now,
            )
        )
