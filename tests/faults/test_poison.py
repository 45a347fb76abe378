"""Poison bodies to every queue the system consumes: each is dead-lettered once with its
reason (and answered `validation` where someone waits), never requeued, and the consumer
goes on serving. Every service runs, the WhatsApp channel included."""

import asyncio
import json
import logging
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from faststream.rabbit import RabbitBroker

from contracts import names
from contracts.client import RequestReplyClient
from infra.messaging import EVENTS
from infra.settings import Settings, WhatsAppSettings
from services.assistant_gateway.main import AssistantGateway
from services.notifier.handlers import WEBHOOK_QUEUE
from services.notifier.main import Notifier
from services.sla_monitor.main import SlaMonitor
from services.ticket_service.main import TicketService
from services.whatsapp_channel.main import WhatsAppChannel
from tests.support.factories import SYSTEM
from tests.support.infra import rabbit_vhost
from tests.support.letters import DeadLetters, dead_letters
from tests.support.system import Endpoints, running, settings_for

pytestmark = [pytest.mark.integration, pytest.mark.faults]

TEST_BOUND_SECONDS = 300
POISON: dict[str, bytes] = {
    "not JSON": b"{this is not json",
    "invalid UTF-8": b'{"title": "\xff\xfe"}',
    "5 MB": b'{"title": "' + b"x" * (5 * 1024 * 1024) + b'"}',
    "nested 200,000 deep": b"[" * 200_000 + b"]" * 200_000,
    "null": b"null",
}
REASONS = {
    "not JSON": "is not JSON",
    "invalid UTF-8": "is not UTF-8",
    "5 MB": "over the limit",
    "nested 200,000 deep": "nested too deeply",
    "null": "JSON null, not an object",
}
REQUEST_QUEUES = [*names.COMMAND_QUEUES, names.ASSISTANT_TOOL_CALLS]
EVENT_QUEUES = [names.SLA_MONITOR_TICKET_EVENTS, WEBHOOK_QUEUE]


def every_service_settings(rabbit_url: str, endpoints: Endpoints, database: str) -> Settings:
    base = settings_for(endpoints, database, jwt_secret="poison-suite-secret-0123456789abcdef")
    channel = WhatsAppSettings(
        verify_token="verify",
        app_secret="app-secret",
        access_token="token",
        phone_number_id="1234567890",
        graph_base_url="http://127.0.0.1:9",
    )
    return base.model_copy(update={"rabbitmq_url": rabbit_url, "whatsapp": channel})


def services() -> list[Any]:
    return [TicketService(), AssistantGateway(), SlaMonitor(), Notifier(), WhatsAppChannel()]


@contextmanager
def dead_letter_log() -> Iterator[Counter[str]]:
    """How many times each queue logged a dead letter (a requeue loop would log more)."""
    seen: Counter[str] = Counter()

    class Count(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.getMessage() == "message dead-lettered":
                seen[str(getattr(record, "queue", ""))] += 1

    handler = Count()
    logger = logging.getLogger("infra.inbox")
    logger.addHandler(handler)
    try:
        yield seen
    finally:
        logger.removeHandler(handler)


def once_each(letters: DeadLetters, queue: str, bodies: dict[str, bytes]) -> dict[str, int]:
    found = Counter(letter.body for letter in letters.from_queue(queue))
    return {name: found[body] for name, body in bodies.items()}


async def test_poison_bodies_on_every_consumed_queue(endpoints: Endpoints, database: str) -> None:
    # JSON, and claims to be an event, but is no message of any kind: poison everywhere
    marker = json.dumps({"type": "ticket.created", "marker": uuid.uuid4().hex}).encode()
    one_way = {**POISON, "marker": marker}
    async with (
        asyncio.timeout(TEST_BOUND_SECONDS),
        rabbit_vhost() as rabbit,
        dead_letters(rabbit) as letters,
    ):
        with dead_letter_log() as logged:
            settings = every_service_settings(rabbit, endpoints, database)
            async with running(settings, services()):
                broker = RabbitBroker(rabbit, logger=None)
                await broker.start()
                client = RequestReplyClient(rabbit, timeout=60)
                try:
                    replies = await _requests(client)
                    served = await _still_served(client)
                    for body in one_way.values():
                        await broker.publish(body, queue=names.WHATSAPP_INBOUND)
                        await broker.publish(body, queue=names.WHATSAPP_OUTBOUND)
                        await broker.publish(body, exchange=EVENTS, routing_key="ticket.created")
                    for queue in [*EVENT_QUEUES, names.WHATSAPP_INBOUND, names.WHATSAPP_OUTBOUND]:
                        await letters.wait_for_count(queue, len(one_way))
                finally:
                    await client.close()
                    await broker.stop()
    for queue in REQUEST_QUEUES:
        assert {name: r["error"]["code"] for name, r in replies[queue].items()} == dict.fromkeys(
            POISON, "validation"
        ), queue
        assert once_each(letters, queue, POISON) == dict.fromkeys(POISON, 1), queue
        reasons = {letter.body: letter.reason for letter in letters.from_queue(queue)}
        for name, body in POISON.items():
            assert REASONS[name] in reasons[body], (queue, name, reasons[body])
        assert logged[queue] == len(POISON), queue
    assert served["get"]["error"]["code"] == "not_found"
    assert all(r["error"]["code"] == "validation" for r in served["empty"].values())
    for queue in [*EVENT_QUEUES, names.WHATSAPP_INBOUND, names.WHATSAPP_OUTBOUND]:
        assert once_each(letters, queue, one_way) == dict.fromkeys(one_way, 1), queue
        assert logged[queue] == len(one_way), queue


async def _requests(client: RequestReplyClient) -> dict[str, dict[str, dict[str, Any]]]:
    """Every poison body to every request/reply queue, answered."""
    replies: dict[str, dict[str, dict[str, Any]]] = {}
    for queue in REQUEST_QUEUES:
        replies[queue] = {}
        for name, body in POISON.items():
            replies[queue][name] = await client.request(queue, body)
    return replies


async def _still_served(client: RequestReplyClient) -> dict[str, Any]:
    """After the poison, the same consumers answer real requests."""
    get = {"actor": SYSTEM, "ticketId": "TICKET-2026-999999"}
    reply = await client.request(names.GET, get)
    empty = {}
    for queue in REQUEST_QUEUES:
        if queue == names.RECORD_MESSAGES:  # one-way too: a bad body is dead-lettered there
            continue
        empty[queue] = await client.request(queue, b"{}")
    return {"get": reply, "empty": empty}
