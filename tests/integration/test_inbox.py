"""The inbox over the real broker: redelivery limit, bounded prefetch on every consumer."""

import asyncio
import json
import uuid
from typing import Any

import aio_pika
import pytest
from faststream import AckPolicy
from faststream.rabbit.annotations import RabbitMessage

from contracts import names
from infra.inbox import COUNT_HEADER, payload
from infra.messaging import declare_topology, durable_queue, make_broker
from infra.settings import MessagingSettings
from services.assistant_gateway.main import AssistantGateway
from services.notifier.main import Notifier
from services.sla_monitor.main import SlaMonitor
from services.ticket_service.main import TicketService
from tests.support.infra import broker_rows
from tests.support.letters import dead_letters
from tests.support.system import Endpoints, running, settings_for
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration


async def test_a_message_that_keeps_failing_is_dead_lettered_with_its_count(
    endpoints: Endpoints,
) -> None:
    queue = durable_queue(f"test.inbox.failing.{uuid.uuid4().hex[:8]}")
    broker = make_broker(endpoints.rabbit_url, MessagingSettings(delivery_limit=3))
    attempts: list[int] = []

    @broker.subscriber(queue, ack_policy=AckPolicy.NACK_ON_ERROR)
    async def always_fails(message: RabbitMessage) -> None:
        attempts.append((await payload(message))["n"])
        raise RuntimeError("the database is down")

    async with dead_letters(endpoints.rabbit_url) as letters:
        await broker.start()
        try:
            await declare_topology(broker)
            await broker.publish({"n": 1}, queue=queue.name, correlation_id="corr-1")
            await letters.wait_for_count(queue.name, 1)
        finally:
            await broker.stop()
    [letter] = letters.from_queue(queue.name)
    assert attempts == [1, 1, 1]
    assert letter.headers[COUNT_HEADER] == 4
    assert letter.reason == "delivered 4 times"
    assert letter.correlation_id == "corr-1"
    assert json.loads(letter.body) == {"n": 1}


async def test_a_consumer_holds_at_most_prefetch_messages(endpoints: Endpoints) -> None:
    queue = durable_queue(f"test.inbox.prefetch.{uuid.uuid4().hex[:8]}")
    broker = make_broker(endpoints.rabbit_url, MessagingSettings(prefetch=2))
    started: list[int] = []
    changed, release = asyncio.Event(), asyncio.Event()

    @broker.subscriber(queue)
    async def slow(message: RabbitMessage) -> None:
        started.append((await payload(message))["n"])
        changed.set()
        await release.wait()

    await broker.start()
    try:
        for n in range(10):
            await broker.publish({"n": n}, queue=queue.name)
        await eventually(lambda: len(started) >= 2, what="two handlers started", wake=changed)
        waiting = await _ready(endpoints.rabbit_url, queue.name)
        held = len(started)
        release.set()
    finally:
        await broker.stop()
    assert held == 2
    assert waiting == 8


async def _ready(rabbit_url: str, queue: str) -> int:
    """Messages the broker still holds back (not delivered to any consumer)."""
    connection = await aio_pika.connect(rabbit_url)
    try:
        channel = await connection.channel()
        declared = await channel.declare_queue(queue, passive=True)
        return int(declared.declaration_result.message_count or 0)
    finally:
        await connection.close()


def _consumers(rabbit_url: str) -> list[tuple[str, int]]:
    rows = broker_rows(rabbit_url, "list_consumers", "queue_name", "prefetch_count")
    return [(name, int(prefetch)) for name, prefetch in rows]


async def test_every_consumer_of_every_service_has_the_configured_prefetch(
    endpoints: Endpoints, database: str
) -> None:
    settings = settings_for(
        endpoints, database, jwt_secret="x" * 32, messaging=MessagingSettings(prefetch=7)
    )
    services: list[Any] = [TicketService(), AssistantGateway(), SlaMonitor(), Notifier()]
    async with running(settings, services):
        consumers = await asyncio.to_thread(_consumers, endpoints.rabbit_url)
    pushes = [prefetch for queue, prefetch in consumers if queue.startswith("notifier.push.")]
    shared = {q: p for q, p in consumers if not q.startswith("notifier.push.")}
    assert pushes == [1]  # one at a time, so a client sees a ticket's pushes in order
    expected = [*names.COMMAND_QUEUES, names.WHATSAPP_INBOUND, names.ASSISTANT_TOOL_CALLS]
    expected += [names.SLA_MONITOR_TICKET_EVENTS, "notifier.v1.webhooks"]
    assert set(expected) <= set(shared)
    assert set(shared.values()) == {7}
