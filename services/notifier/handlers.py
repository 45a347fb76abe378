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
from pydantic import TypeAdapter

from contracts.agents import AgentUpdated
from contracts.events import Event
from infra.inbox import payload
from infra.messaging import EVENTS, durable_queue
from infra.subscribers import subscriber
from services.notifier.domain.webhooks import EVENT_TYPES

log = logging.getLogger(__name__)

WEBHOOK_QUEUE = "notifier.v1.webhooks"

EventHandler = Callable[[Event, dict[str, Any]], Awaitable[None]]
AgentHandler = Callable[[AgentUpdated], Awaitable[None]]
PUSHED = TypeAdapter[Event | AgentUpdated](Event | AgentUpdated)
EVENT = TypeAdapter[Event](Event)


def push_queue(instance_id: str) -> RabbitQueue:
    return RabbitQueue(
        f"notifier.push.{instance_id}", exclusive=True, auto_delete=True, routing_key="#"
    )


def webhook_queue() -> RabbitQueue:
    return durable_queue(WEBHOOK_QUEUE, routing_key="#")


def newer(body: dict[str, Any]) -> bool:
    """A well-formed event of a type newer than this contract (acked, ignored); a body
    that claims one of our types but does not fit it is poison."""
    return body.get("type") not in EVENT_TYPES


def build_router(
    instance_id: str,
    push: EventHandler,
    enqueue: EventHandler,
    agent_changed: AgentHandler | None = None,
) -> RabbitRouter:
    router = RabbitRouter()

    @subscriber(
        router,
        push_queue(instance_id),
        PUSHED,
        EVENTS,
        unknown=lambda body: newer(body) and body.get("type") != "agent.updated",
        channel=Channel(prefetch_count=1),
        ack_policy=AckPolicy.ACK,
        title="notifier.push.<instance>",
    )
    async def push_event(event: Event | AgentUpdated, message: RabbitMessage) -> None:
        """Every event, to emit the Socket.IO push it maps to (best effort, live only);
        `agent.updated` ends or re-rooms that agent's sessions."""
        try:
            if not isinstance(event, AgentUpdated):
                await push(event, await payload(message))
            elif agent_changed is not None:
                await agent_changed(event)
        except Exception:
            log.exception("push failed", extra={"eventId": event.event_id})

    @subscriber(
        router,
        webhook_queue(),
        EVENT,
        EVENTS,
        unknown=newer,
    )
    async def enqueue_webhooks(event: Event, message: RabbitMessage) -> None:
        """Every event, to record one delivery per matching webhook endpoint. A body that
        is not an event goes to the dead letters (an unknown event type is skipped); a
        storage error is retried."""
        await enqueue(event, await payload(message))

    return router
