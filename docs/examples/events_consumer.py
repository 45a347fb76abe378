"""Consumes the ticket events of the `tickets.events` exchange with nothing but the
`tickets-contracts` package (pydantic and aio-pika): a durable queue of its own, bound to
the routing keys it wants, every body parsed into the contracts' event models.

    python events_consumer.py amqp://guest:guest@localhost:5672/ crm.ticket_events 'ticket.*'

Delivery is at least once: a redelivered event has the same `eventId`, so deduplicate on
it (here in memory; a real consumer records it with the work it does).
"""

import asyncio
import json
import sys
from typing import get_args

import aio_pika
from pydantic import TypeAdapter, ValidationError

from contracts import names
from contracts.events import Event, SlaBreached, TicketCreated, TicketStatusChanged

EVENTS: TypeAdapter[Event] = TypeAdapter(Event)
KNOWN_TYPES = {model.model_fields["type"].default for model in get_args(get_args(Event)[0])}


def handle(event: Event) -> None:
    match event:
        case TicketCreated(ticket=ticket):
            print(f"ticket.created {ticket.ticket_id} {ticket.priority} {ticket.customer_id}")
        case TicketStatusChanged(old_status=old, new_status=new):
            print(f"ticket.status_changed {event.ticket_id} {old} -> {new}")
        case SlaBreached(kind=kind):
            print(f"sla.breached {event.ticket_id} {kind}")
        case _:
            print(f"{event.type} {event.ticket_id}")


async def consume(url: str, queue_name: str, routing_keys: list[str]) -> None:
    connection = await aio_pika.connect_robust(url)
    async with connection:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=16)
        exchange = await channel.declare_exchange(
            names.EVENTS_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await channel.declare_queue(queue_name, durable=True)
        for routing_key in routing_keys:
            await queue.bind(exchange, routing_key=routing_key)
        print("ready", flush=True)
        seen: set[str] = set()
        async with queue.iterator() as messages:
            async for message in messages:
                await receive(message, seen)


async def receive(message: aio_pika.abc.AbstractIncomingMessage, seen: set[str]) -> None:
    try:
        event = EVENTS.validate_json(message.body)
    except ValidationError as error:
        if message_type(message.body) not in KNOWN_TYPES:
            await message.ack()  # an event type newer than this package: skip it
            return
        print(f"unreadable event: {error.error_count()} problems", file=sys.stderr)
        await message.reject(requeue=False)  # never requeue what cannot be read
        return
    if event.event_id not in seen:
        seen.add(event.event_id)
        handle(event)
    sys.stdout.flush()
    await message.ack()


def message_type(body: bytes) -> object:
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):
        return None
    return parsed.get("type") if isinstance(parsed, dict) else None


if __name__ == "__main__":
    url = sys.argv[1] if len(sys.argv) > 1 else "amqp://guest:guest@localhost:5672/"
    queue_name = sys.argv[2] if len(sys.argv) > 2 else "crm.ticket_events"
    asyncio.run(consume(url, queue_name, sys.argv[3:] or ["#"]))
