"""`whatsapp.outbound` -> the send store. The delivery is acked once the message is stored
(the sender takes it from there), so RabbitMQ holds it until then and a redelivery finds
it already stored: one send per outbound message id.

The outbound message id is the body's `messageId`, else the AMQP message id (the assistant
gateway's `reply-<inbound id>`), else a hash of the body. A body that is not an outbound
message is put on the dead-letter exchange with the reason and acked (`infra/inbox.py`).
The queue stays a classic queue, declared as its publishers (and other WhatsApp
pipelines that consume it) declare it, so the broker does not count its redeliveries.
"""

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from faststream.rabbit import RabbitBroker
from faststream.rabbit.annotations import RabbitMessage
from faststream.rabbit.subscriber import RabbitSubscriber

from contracts.whatsapp import WhatsAppOutbound
from infra.clock import Clock
from infra.messaging import WHATSAPP_OUTBOUND
from infra.subscribers import subscriber
from services.whatsapp_channel.documents import SendRecord
from services.whatsapp_channel.sends import SendStore

log = logging.getLogger(__name__)


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

    async def take(self, outbound: WhatsAppOutbound, body: bytes, amqp_id: str | None) -> None:
        send_id = outbound_id(outbound, amqp_id, body)
        now = self.clock.now()
        record = SendRecord(
            id=send_id,
            to=outbound.to,
            text=outbound.text,
            reply_to=outbound.reply_to,
            ticket_id=outbound.ticket_id,
            template=None if outbound.template is None else outbound.template.model_dump(),
            purpose=outbound.purpose,
            next_attempt_at=now,
            created_at=now,
        )
        for part in [record, *_files(record, outbound)]:
            if await self.sends.add(part):
                log.info("outbound message queued for WhatsApp", extra={"sendId": part.id})
            else:
                log.info("outbound message already known", extra={"sendId": part.id})
        self.wake()


def _files(record: SendRecord, outbound: WhatsAppOutbound) -> list[SendRecord]:
    """One send per attached file, after the text: `<id>:file<n>`, each a millisecond later
    (sends to one customer leave in `createdAt` order), reported as the message."""
    return [
        record.model_copy(
            update={
                "id": f"{record.id}:file{n}",
                "media": attachment.model_dump(),
                "report_as": record.id,
                "created_at": record.created_at + timedelta(milliseconds=n),
            }
        )
        for n, attachment in enumerate(outbound.attachments or [], start=1)
    ]


async def subscribe(broker: RabbitBroker, intake: OutboundIntake) -> RabbitSubscriber:
    """Started only when the channel is configured: otherwise another WhatsApp pipeline
    may be the one consuming `whatsapp.outbound`."""

    @subscriber(
        broker,
        WHATSAPP_OUTBOUND,  # declared exactly as its publishers declare it
        WhatsAppOutbound,
        persistent=False,
        failure="outbound message not stored; requeued",
    )
    async def handle_outbound(outbound: WhatsAppOutbound, message: RabbitMessage) -> None:
        await intake.take(outbound, message.body, message.message_id)

    started: RabbitSubscriber = handle_outbound
    await started.start()
    return started
