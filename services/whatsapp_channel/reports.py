"""Tells the ticket service what became of each outbound message (`tickets.v1.record_delivery`,
one-way, persistent, confirmed), from the sends whose `reportPending` flag is set.

The flag is set in the same update that changes a send's delivery and cleared after the
broker's confirm, only if no newer report came meanwhile: a report is told at least once,
and the ticket service keeps the highest, so a repeat changes nothing.
"""

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from faststream.rabbit import RabbitBroker

from contracts import names
from contracts.delivery import RecordDelivery
from infra.loops import every
from infra.messaging import command_queue
from services.whatsapp_channel.documents import SendRecord
from services.whatsapp_channel.sends import SendStore

DELIVERY_QUEUE = command_queue(names.RECORD_DELIVERY)
BATCH = 100


def report_of(record: SendRecord) -> dict[str, Any] | None:
    """The command for a send's current delivery; None when there is nothing to tell."""
    delivery = record.delivery or {}
    at = delivery.get("at")
    if not isinstance(at, datetime):
        return None
    command = RecordDelivery.model_validate(
        {
            "actor": {"type": "System"},
            "messageId": record.report_as or record.id,
            "ticketId": record.ticket_id,
            "status": delivery.get("status"),
            "at": at,
            "error": delivery.get("error"),
            "sentAs": record.sent_as,
        }
    )
    return command.model_dump(mode="json", by_alias=True, exclude_none=True)


@dataclass
class DeliveryReporter:
    sends: SendStore
    broker: RabbitBroker
    publish_timeout: float
    _wake: asyncio.Event = field(default_factory=asyncio.Event)

    def wake(self) -> None:
        self._wake.set()

    async def declare(self) -> None:
        await self.broker.declare_queue(DELIVERY_QUEUE)

    async def run_once(self) -> int:
        told = 0
        for record in await self.sends.reports_due(BATCH):
            command = report_of(record)
            if command is not None:
                async with asyncio.timeout(self.publish_timeout):
                    await self.broker.publish(
                        command,
                        queue=DELIVERY_QUEUE,
                        persist=True,
                        message_id=f"{record.id}:{record.delivery_rank}",
                        content_type="application/json",
                    )
                told += 1
            await self.sends.reported(record)
        return told

    async def run(self, poll_seconds: float, stop: asyncio.Event) -> None:
        await every(poll_seconds, stop, self.run_once, "whatsapp-delivery-reports", self._wake)
