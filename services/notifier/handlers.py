"""Thin subscribers on `tickets.events`.

- Pushes: each notifier instance consumes every event through its own exclusive,
  auto-deleted queue (`notifier.push.<instance>`) and emits to the clients connected to
  it; each client is connected to one instance, so it gets each push once. RabbitMQ 4.3
  refuses transient non-exclusive queues, hence exclusive. One message in flight at a
  time (prefetch 1, whatever `TICKETS_MESSAGING__PREFETCH` says): a client sees a
  ticket's pushes in the order they happened.
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

from contracts.agents import AgentUpdated
from contracts.events import Event
from infra import logging as log_context
from infra.inbox import PoisonMessage, payload
from infra.messaging import EVENTS, durable_queue
from services.notifier.domain.webhooks import EVENT_TYPES

log = logging.getLogger(__name__)

WEBHOOK_QUEUE = "notifier.v1.webhooks"

EVENT = TypeAdapter[Event](Event)

EventHandler = Callable[[Event, dict[str, Any]], Awaitable[None]]
AgentHandler = Callable[[AgentUpdated], Awaitable[None]]
AGENT_UPDATED = "agent.updated"


async def _on_agent(body: dict[str, Any], agent_changed: AgentHandler) -> None:
    try:
        event = AgentUpdated.model_validate(body)
    except ValidationError as error:
        raise PoisonMessage(f"not a valid agent.updated event: {error}") from None
    try:
        await agent_changed(event)
    except Exception:
        log.exception("agent sessions not updated", extra={"agentId": event.agent_id})


def push_queue(instance_id: str) -> RabbitQueue:
    return RabbitQueue(
        f"notifier.push.{instance_id}", exclusive=True, auto_delete=True, routing_key="#"
    )


def webhook_queue() -> RabbitQueue:
    return durable_queue(WEBHOOK_QUEUE, routing_key="#")


def parse(payload: dict[str, Any]) -> Event | None:
    """The event; None for a well-formed event of a type newer than this contract (acked,
    ignored). A body that claims one of our types but does not fit it is poison."""
    try:
        return EVENT.validate_python(payload)
    except ValidationError as error:
        if payload.get("type") not in EVENT_TYPES:
            return None
        raise PoisonMessage(f"not a valid {payload.get('type')} event: {error}") from None


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
        ack_policy=AckPolicy.ACK,
        title="notifier.push.<instance>",
    )
    async def push_event(message: RabbitMessage) -> None:
        """Every event, to emit the Socket.IO push it maps to (best effort, live only);
        `agent.updated` ends or re-rooms that agent's sessions."""
        body = await payload(message)
        if message.raw_message.routing_key == AGENT_UPDATED and agent_changed is not None:
            await _on_agent(body, agent_changed)
            return
        event = parse(body)
        if event is None:
            return
        token = log_context.ticket_id.set(event.ticket_id)
        try:
            await push(event, body)
        except Exception:
            log.exception("push failed", extra={"eventId": event.event_id})
        finally:
            log_context.ticket_id.reset(token)

    @router.subscriber(
        webhook_queue(),
        EVENTS,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        title=WEBHOOK_QUEUE,
    )
    async def enqueue_webhooks(message: RabbitMessage) -> None:
        """Every event, to record one delivery per matching webhook endpoint. A body that
        is not an event goes to the dead letters (an unknown event type is skipped); a
        storage error is retried."""
        body = await payload(message)
        event = parse(body)
        if event is None:
            log.info(
                "event type not handled", extra={"routingKey": message.raw_message.routing_key}
            )
            return
        token = log_context.ticket_id.set(event.ticket_id)
        try:
            await enqueue(event, body)
        finally:
            log_context.ticket_id.reset(token)

    return router
