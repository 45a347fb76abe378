"""The push benchmark's fan-out floor: the same work as the notifier's push, done the
thinnest way. One raw aio-pika consumer on `tickets.events` (`ticket.created`), no
parsing beyond json, no authentication, no rooms: each event's five push fields are
encoded once as a Socket.IO event and queued on every connected Engine.IO socket of a
bare python-socketio server, over the same uvicorn as the notifier. Run as its own
process, as the notifier is:

    python -m bench.push_floor --port 8765      # RABBITMQ_URL names the broker
"""

import argparse
import asyncio
import json
import os
import signal
from typing import Any

import aio_pika
import engineio
import socketio
import uvicorn

from contracts import names

FIELDS = ("ticketId", "customerId", "conversationId", "priority", "category")


def push_payload(body: dict[str, Any]) -> dict[str, Any]:
    ticket = body.get("ticket") or {}
    return {field: body.get(field, ticket.get(field)) for field in FIELDS}


async def emit_to_all(sio: socketio.AsyncServer, event: str, data: object) -> None:
    encoded = socketio.packet.Packet(socketio.packet.EVENT, data=[event, data]).encode()
    message = engineio.packet.Packet(engineio.packet.MESSAGE, encoded)
    for eio_sid in list(sio.eio.sockets):
        await sio.eio.send_packet(eio_sid, message)


async def serve(port: int, rabbit_url: str) -> None:
    sio = socketio.AsyncServer(async_mode="asgi", logger=False, engineio_logger=False)
    connection = await aio_pika.connect(rabbit_url)
    channel = await connection.channel()
    await channel.set_qos(prefetch_count=1)
    exchange = await channel.declare_exchange(
        names.EVENTS_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True
    )
    queue = await channel.declare_queue(exclusive=True, auto_delete=True)
    await queue.bind(exchange, "ticket.created")

    async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        async with message.process():
            await emit_to_all(sio, "ticket_created", push_payload(json.loads(message.body)))

    await queue.consume(on_message)
    config = uvicorn.Config(
        socketio.ASGIApp(sio), host="127.0.0.1", port=port, log_config=None, lifespan="off"
    )
    server = uvicorn.Server(config)
    asyncio.get_running_loop().add_signal_handler(
        signal.SIGTERM, lambda: setattr(server, "should_exit", True)
    )
    try:
        await server.serve()
    finally:
        await connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    url = os.environ.get("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
    asyncio.run(serve(args.port, url))


if __name__ == "__main__":
    main()
