"""RabbitMQ plumbing shared by the services: the broker, the names it declares, and a
typed request helper for request/reply queues.

Every queue a service consumes durably is a quorum queue: the broker counts each
message's deliveries (`x-delivery-count`, crashes included), which is what lets the
inbox (`infra/inbox.py`) set a poison message aside instead of looping on it, and it
keeps every message on disk, whatever its delivery mode.
"""

import logging
from typing import Any

from faststream.rabbit import (
    Channel,
    ExchangeType,
    QueueType,
    RabbitBroker,
    RabbitExchange,
    RabbitQueue,
)

from contracts import names
from infra.inbox import DeliveryPolicy, Inbox, error_reply
from infra.metrics import ConsumeMetrics
from infra.settings import MessagingSettings

__all__ = ["error_reply"]

log = logging.getLogger(__name__)

EVENTS = RabbitExchange(names.EVENTS_EXCHANGE, type=ExchangeType.TOPIC, durable=True)
DEAD_LETTERS = RabbitExchange(names.DEAD_LETTER_EXCHANGE, type=ExchangeType.FANOUT, durable=True)
WHATSAPP_OUTBOUND = RabbitQueue(names.WHATSAPP_OUTBOUND, durable=True)


def durable_queue(name: str, routing_key: str = "") -> RabbitQueue:
    """A quorum queue whose messages the broker dead-letters when it must drop them."""
    return RabbitQueue(
        name,
        queue_type=QueueType.QUORUM,
        durable=True,
        routing_key=routing_key,
        arguments={"x-dead-letter-exchange": names.DEAD_LETTER_EXCHANGE},
    )


def command_queue(name: str) -> RabbitQueue:
    """A durable request/reply queue (`tickets.v1.*`, `assistant.v1.tool_calls`)."""
    return durable_queue(name)


def make_broker(
    url: str, messaging: MessagingSettings | None = None, graceful_timeout: float | None = 15.0
) -> RabbitBroker:
    """The broker every service runs on: each consumer gets `messaging.prefetch` messages
    at a time and the inbox's checks (delivery limit, JSON object body, dead letters).
    `graceful_timeout`: how long `stop()` waits for messages being handled."""
    messaging = messaging or MessagingSettings()
    inbox = Inbox(DeliveryPolicy(messaging.max_body_bytes, messaging.delivery_limit))
    broker = RabbitBroker(
        url,
        logger=logging.getLogger("broker"),
        log_level=logging.DEBUG,
        default_channel=Channel(prefetch_count=messaging.prefetch),
        decoder=inbox.decode,
        middlewares=[ConsumeMetrics, inbox.middleware],
        graceful_timeout=graceful_timeout,
    )
    inbox.attach(broker)
    return broker


async def declare_topology(broker: RabbitBroker) -> None:
    """Exchanges and the dead-letter queue every service relies on."""
    await broker.declare_exchange(EVENTS)
    dead_letters = await broker.declare_exchange(DEAD_LETTERS)
    queue = await broker.declare_queue(RabbitQueue(names.DEAD_LETTER_QUEUE, durable=True))
    await queue.bind(dead_letters)


async def publish_event(
    broker: RabbitBroker, routing_key: str, payload: dict[str, Any], event_id: str
) -> None:
    """Publish to the events exchange and wait for the broker's confirm."""
    await broker.publish(
        payload,
        exchange=EVENTS,
        routing_key=routing_key,
        message_id=event_id,
        persist=True,
        mandatory=False,
        content_type="application/json",
    )


async def send_to_queue(
    broker: RabbitBroker, queue: RabbitQueue, payload: dict[str, Any], message_id: str
) -> None:
    """Persistent, confirmed publish to a durable queue, declared before the first one
    (the declaration is cached per connection)."""
    await broker.declare_queue(queue)
    await broker.publish(
        payload,
        queue=queue,
        persist=True,
        message_id=message_id,
        content_type="application/json",
    )
