"""Thin subscribers on `tickets.events`.

- Pushes: each notifier instance consumes every event through its own exclusive,
  auto-deleted queue (`notifier.push.<instance>`) and emits to the clients connected to
  it; each client is connected to one instance, so it gets each push once. RabbitMQ 4.3
  refuses transient non-exclusive queues, hence exclusive. One message in flight at a
  time (prefetch 1): a client sees a ticket's pushes in the order they happened.
- Webhooks: one durable queue shared by all instances (`notifier.v1.webhooks`, competing
  consumers) turns events into delivery documents; events published while every notifier
  is down wait there. The unique (eventId, webhookId) index makes a redelivery a no-op.
"""

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from faststream import AckPolicy
from faststream.rabbit import Channel, RabbitQueue, RabbitRouter
from faststream.rabbit.annotations import RabbitMessage
from pydantic import TypeAdapter, ValidationError

from contracts import names
from contracts.agents import AgentUpdated
from contracts.events import Event
from infra import logging as log_context
from infra.messaging import EVENTS, UnparseableMessage, decode_json, raw_body
from services.notifier.domain.webhooks import EVENT_TYPES

log = logging.getLogger(__name__)

WEBHOOK_QUEUE = "notifier.v1.webhooks"
WEBHOOK_PREFETCH = 20

EVENT = TypeAdapter[Event](Event)

EventHandler = Callable[[Event, dict[str, Any]], Awaitable[None]]
AgentHandler = Callable[[AgentUpdated], Awaitable[None]]
AGENT_UPDATED = "agent.updated"


async def _on_agent(body: bytes, agent_changed: AgentHandler) -> None:
    try:
        event = AgentUpdated.model_validate(decode_json(body))
    except (UnparseableMessage, ValidationError) as error:
        log.warning("agent event not understood", extra={"error": str(error)[:300]})
        return
    try:
        await agent_changed(event)
    except Exception:
        log.exception("agent sessions not updated", extra={"agentId": event.agent_id})


def push_queue(instance_id: str) -> RabbitQueue:
    return RabbitQueue(
        f"notifier.push.{instance_id}", exclusive=True, auto_delete=True, routing_key="#"
    )


def webhook_queue() -> RabbitQueue:
    return RabbitQueue(
        WEBHOOK_QUEUE,
        durable=True,
        routing_key="#",
        arguments={"x-dead-letter-exchange": names.DEAD_LETTER_EXCHANGE},
    )


def parse(body: bytes) -> tuple[Event, dict[str, Any]]:
    """Raises UnparseableMessage or ValidationError."""
    payload = decode_json(body)
    return EVENT.validate_python(payload), payload


def known_type(body: bytes) -> bool:
    """False for a well-formed event of a type newer than this contract (acked, ignored);
    True when the body is not JSON or claims one of our types (then it is poison)."""
    try:
        payload = decode_json(body)
    except UnparseableMessage:
        return True
    return not isinstance(payload, dict) or payload.get("type") in EVENT_TYPES


def build_router(
    instance_id: str,
    push: EventHandler,
    enqueue: EventHandler,
    agent_changed: AgentHandler | None = None,
) -> RabbitRouter:
    router = RabbitRouter()

    @router.subscriber(
        push_queue(instance_id),
        EVENTS,
        channel=Channel(prefetch_count=1),
        decoder=raw_body,
        ack_policy=AckPolicy.ACK,
        title="notifier.push.<instance>",
    )
    async def push_event(message: RabbitMessage) -> None:
        """Every event, to emit the Socket.IO push it maps to (best effort, live only);
        `agent.updated` ends or re-rooms that agent's sessions."""
        if message.raw_message.routing_key == AGENT_UPDATED and agent_changed is not None:
            await _on_agent(message.body, agent_changed)
            return
        try:
            event, payload = parse(message.body)
        except (UnparseableMessage, ValidationError) as error:
            log.warning("event not understood, not pushed", extra={"error": str(error)[:300]})
            return
        token = log_context.ticket_id.set(event.ticket_id)
        try:
            await push(event, payload)
        except Exception:
            log.exception("push failed", extra={"eventId": event.event_id})
        finally:
            log_context.ticket_id.reset(token)

    @router.subscriber(
        webhook_queue(),
        EVENTS,
        channel=Channel(prefetch_count=WEBHOOK_PREFETCH),
        decoder=raw_body,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        title=WEBHOOK_QUEUE,
    )
    async def enqueue_webhooks(message: RabbitMessage) -> None:
        """Every event, to record one delivery per matching webhook endpoint. A body that
        is not an event goes to the dead letters (an unknown event type is skipped); a
        storage error is retried."""
        try:
            event, payload = parse(message.body)
        except (UnparseableMessage, ValidationError) as error:
            if not known_type(message.body):
                log.info(
                    "event type not handled", extra={"routingKey": message.raw_message.routing_key}
                )
                return
            log.warning("event not understood, dead-lettered", extra={"error": str(error)[:300]})
            await message.reject(requeue=False)
            return
        token = log_context.ticket_id.set(event.ticket_id)
        try:
            await enqueue(event, payload)
        finally:
            log_context.ticket_id.reset(token)

    return router
