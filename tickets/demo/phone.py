"""The customer's WhatsApp side of the demo, on the broker itself: what the WhatsApp
pipeline publishes on `whatsapp.inbound` when the customer writes, and what a WhatsApp
sender would deliver to their phone from `whatsapp.outbound`.

`whatsapp.outbound` is shared: the demo takes (acknowledges) only the messages addressed
to its own customer. Any other message it is handed stays unacknowledged until the demo
disconnects, and the broker then gives it back to the queue, untouched."""

import asyncio
import json
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractIncomingMessage
from aio_pika.exceptions import AMQPError

from contracts import names
from contracts.whatsapp import WhatsAppInbound
from infra.dependencies import without_password
from tickets.demo.progress import StepFailed

CONNECT_SECONDS = 10.0

Received = dict[str, Any]


class Phone:
    def __init__(self, rabbit_url: str, number: str, name: str) -> None:
        self.number = number
        self.name = name
        self.received: list[Received] = []
        self._url = rabbit_url
        self._arrived = asyncio.Event()
        self._connection: AbstractConnection | None = None
        self._channel: AbstractChannel | None = None

    async def connect(self) -> None:
        """Checks the assistant gateway's queue exists, then listens for the customer."""
        try:
            self._connection = await aio_pika.connect(self._url, timeout=CONNECT_SECONDS)
            probe = await self._connection.channel()
            await probe.declare_queue(names.WHATSAPP_INBOUND, passive=True)
            await probe.close()
        except (AMQPError, OSError, TimeoutError) as error:
            where = without_password(self._url)
            raise StepFailed(
                f"no {names.WHATSAPP_INBOUND} queue at RabbitMQ {where} ({type(error).__name__}):"
                " is the system running on this broker? (RABBITMQ_URL)"
            ) from None
        try:
            await self._listen(self._connection)
        except AMQPError as error:
            raise StepFailed(f"RabbitMQ refused {names.WHATSAPP_OUTBOUND}: {error!r}") from None

    async def _listen(self, connection: AbstractConnection) -> None:
        self._channel = await connection.channel(on_return_raises=True)
        await self._channel.set_qos(prefetch_count=0)
        outbound = await self._channel.declare_queue(names.WHATSAPP_OUTBOUND, durable=True)
        if outbound.declaration_result.consumer_count:
            raise StepFailed(
                f"{names.WHATSAPP_OUTBOUND} already has a consumer (the WhatsApp channel?); "
                "the demo's customer is made up: run it on a system without the channel on"
            )
        await outbound.consume(self._take)

    async def write(self, text: str, at: datetime) -> str:
        """The customer's message, as the WhatsApp pipeline publishes it; its id."""
        message_id = f"wamid.demo.{uuid.uuid4().hex}"
        body = WhatsAppInbound.model_validate(
            {
                "messageId": message_id,
                "from": self.number,
                "name": self.name,
                "text": text,
                "timestamp": at,
            }
        ).model_dump(mode="json", by_alias=True, exclude_none=True)
        if self._channel is None:
            raise RuntimeError("connect() first")
        await self._channel.default_exchange.publish(
            aio_pika.Message(
                json.dumps(body).encode(),
                content_type="application/json",
                message_id=message_id,
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            ),
            routing_key=names.WHATSAPP_INBOUND,
            mandatory=True,
        )
        return message_id

    async def receives(self, match: Callable[[Received], bool]) -> Received:
        """The first message to the customer that matches (the caller bounds the wait)."""
        while True:
            for message in self.received:
                if match(message):
                    return message
            self._arrived.clear()
            await self._arrived.wait()

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()

    async def _take(self, message: AbstractIncomingMessage) -> None:
        try:
            body = json.loads(message.body)
        except ValueError:
            return  # not ours to judge: back to the queue when the demo leaves
        if isinstance(body, dict) and body.get("to") == self.number:
            await message.ack()
            self.received.append(body)
            self._arrived.set()
