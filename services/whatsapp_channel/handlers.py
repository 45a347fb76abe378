"""`whatsapp.outbound` -> the send store. The delivery is acked once the message is stored
(the sender takes it from there), so RabbitMQ holds it until then and a redelivery finds
it already stored: one send per outbound message id.

The outbound message id is the body's `messageId`, else the AMQP message id (the assistant
gateway's `reply-<inbound id>`), else a hash of the body. A body that is not an outbound
message is put on the dead-letter exchange with the reason and acked.
"""

import asyncio
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

from faststream import AckPolicy
from faststream.rabbit import Channel, RabbitBroker, RabbitQueue
from faststream.rabbit.annotations import RabbitMessage
from faststream.rabbit.subscriber import RabbitSubscriber
from pydantic import ValidationError

from contracts import names
from contracts.whatsapp import WhatsAppOutbound
from infra import logging as log_context
from infra.clock import Clock
from infra.messaging import DEAD_LETTERS, UnparseableMessage, decode_json, raw_body
from services.whatsapp_channel.documents import SendRecord
from services.whatsapp_channel.sends import SendStore

log = logging.getLogger(__name__)

OUTBOUND_QUEUE = RabbitQueue(names.WHATSAPP_OUTBOUND, durable=True)
"""Declared exactly as its publishers declare it."""
OUTBOUND_PREFETCH = 20
RETRY_PAUSE_SECONDS = 1.0


def outbound_id(outbound: WhatsAppOutbound, amqp_id: str | None, body: bytes) -> str:
    if outbound.message_id:
        return outbound.message_id
    if amqp_id:
        return amqp_id
    return "sha256:" + hashlib.sha256(body).hexdigest()


@dataclass
class OutboundIntake:
    sends: SendStore
    broker: RabbitBroker
    clock: Clock
    wake: Callable[[], None]

    async def take(self, body: bytes, amqp_id: str | None) -> None:
        try:
            outbound = WhatsAppOutbound.model_validate(decode_json(body))
        except (UnparseableMessage, ValidationError) as error:
            await self._dead_letter(body, amqp_id, str(error)[:500])
            return
        send_id = outbound_id(outbound, amqp_id, body)
        log_context.ticket_id.set(outbound.ticket_id)
        now = self.clock.now()
        record = SendRecord(
            id=send_id,
            to=outbound.to,
            text=outbound.text,
            reply_to=outbound.reply_to,
            ticket_id=outbound.ticket_id,
            template=None if outbound.template is None else outbound.template.model_dump(),
            next_attempt_at=now,
            created_at=now,
        )
        if await self.sends.add(record):
            log.info("outbound message queued for WhatsApp", extra={"sendId": send_id})
            self.wake()
        else:
            log.info("outbound message already known", extra={"sendId": send_id})

    async def _dead_letter(self, body: bytes, amqp_id: str | None, reason: str) -> None:
        log.warning(
            "outbound message dead-lettered", extra={"messageId": amqp_id, "reason": reason}
        )
        await self.broker.publish(
            body,
            exchange=DEAD_LETTERS,
            persist=True,
            message_id=amqp_id,
            headers={"x-origin-queue": names.WHATSAPP_OUTBOUND, "x-reason": reason},
        )


async def subscribe(broker: RabbitBroker, intake: OutboundIntake) -> RabbitSubscriber:
    """Started only when the channel is configured: otherwise another WhatsApp pipeline
    may be the one consuming `whatsapp.outbound`."""
    subscriber = broker.subscriber(
        OUTBOUND_QUEUE,
        decoder=raw_body,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        channel=Channel(prefetch_count=OUTBOUND_PREFETCH),
        persistent=False,
    )

    @subscriber
    async def handle_outbound(message: RabbitMessage) -> None:
        log_context.correlation_id.set(message.correlation_id or message.message_id)
        try:
            await intake.take(message.body, message.message_id)
        except Exception:
            log.exception("outbound message not stored; requeued")
            await asyncio.sleep(RETRY_PAUSE_SECONDS)
            raise

    await subscriber.start()
    return subscriber
