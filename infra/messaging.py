"""RabbitMQ plumbing shared by the services: the broker, the names it declares, and a
typed request helper for request/reply queues."""

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from faststream.rabbit import ExchangeType, RabbitBroker, RabbitExchange, RabbitQueue
from faststream.rabbit.annotations import RabbitMessage

from contracts import names
from contracts.enums import ErrorCode
from contracts.replies import ErrorBody, ErrorReply

log = logging.getLogger(__name__)

EVENTS = RabbitExchange(names.EVENTS_EXCHANGE, type=ExchangeType.TOPIC, durable=True)
DEAD_LETTERS = RabbitExchange(names.DEAD_LETTER_EXCHANGE, type=ExchangeType.FANOUT, durable=True)
WHATSAPP_OUTBOUND = RabbitQueue(names.WHATSAPP_OUTBOUND, durable=True)


def command_queue(name: str) -> RabbitQueue:
    """A durable request/reply queue whose unparseable messages go to the dead letters."""
    return RabbitQueue(
        name,
        durable=True,
        arguments={"x-dead-letter-exchange": names.DEAD_LETTER_EXCHANGE},
    )


def make_broker(url: str, graceful_timeout: float | None = 15.0) -> RabbitBroker:
    """`graceful_timeout`: how long `stop()` waits for messages being handled."""
    return RabbitBroker(
        url,
        logger=logging.getLogger("broker"),
        log_level=logging.DEBUG,
        graceful_timeout=graceful_timeout,
    )


async def declare_topology(broker: RabbitBroker) -> None:
    """Exchanges and the dead-letter queue every service relies on."""
    await broker.declare_exchange(EVENTS)
    dead_letters = await broker.declare_exchange(DEAD_LETTERS)
    queue = await broker.declare_queue(RabbitQueue(names.DEAD_LETTER_QUEUE, durable=True))
    await queue.bind(dead_letters)


def error_reply(
    code: ErrorCode, message: str, details: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    return ErrorReply(error=ErrorBody(code=code, message=message, details=details)).model_dump(
        mode="json", exclude_none=True
    )


class UnparseableMessage(Exception):
    """The body is not JSON at all: there is nothing to validate or answer field by field."""


def decode_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UnparseableMessage(str(error)) from error


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


async def raw_body(message: Any) -> Any:
    """Decoder that leaves the body as bytes: we parse it ourselves to answer bad input."""
    return message.body


RawHandler = Callable[[Any], Awaitable[dict[str, Any]]]


async def answer_or_dead_letter(message: RabbitMessage, handle: RawHandler) -> dict[str, Any]:
    """Decode, handle, reply. A body that is not JSON is rejected to the dead letters
    (never requeued) and the caller still gets a `validation` reply."""
    try:
        payload = decode_json(message.body)
    except UnparseableMessage as error:
        log.warning(
            "unparseable message dead-lettered",
            extra={
                "queue": message.raw_message.routing_key,
                "correlationId": message.correlation_id,
            },
        )
        await message.reject(requeue=False)
        return error_reply(ErrorCode.VALIDATION, f"Message body is not valid JSON: {error}")
    return await handle(payload)
