"""One verified webhook POST: record every message (once per WhatsApp id), move the
customers' windows, apply delivery reports, then publish what is new.

What a failure leaves: MongoDB away -> nothing recorded, 503, Meta retries. RabbitMQ away
-> the messages are recorded `pending`, 503, Meta retries and the sweep publishes them
when the broker is back, whichever comes first; nothing is published twice (claims).
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from infra.clock import Clock
from services.whatsapp_channel import metrics
from services.whatsapp_channel.domain.webhook import StatusReport, parse_webhook
from services.whatsapp_channel.inbox import InboxStore
from services.whatsapp_channel.relay import InboundRelay
from services.whatsapp_channel.sends import SendStore

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Receipt:
    messages: int
    new: int
    published: int
    statuses: int
    skipped: int

    def to_wire(self) -> dict[str, int]:
        return {
            "messages": self.messages,
            "new": self.new,
            "published": self.published,
            "statuses": self.statuses,
            "skipped": self.skipped,
        }


@dataclass
class WebhookIntake:
    inbox: InboxStore
    sends: SendStore
    relay: InboundRelay
    clock: Clock
    phone_number_id: str
    reported: Callable[[], None] = lambda: None
    """Called when a report changed a send (the reporter tells the ticket service)."""

    async def receive(self, payload: Any) -> Receipt:
        parsed = parse_webhook(payload, self.phone_number_id)
        for reason in parsed.skipped:
            metrics.INBOUND.labels("skipped").inc()
            log.warning("webhook item skipped", extra={"reason": reason})
        now = self.clock.now()
        new = await self.inbox.record(parsed.messages, now)
        await self.inbox.seen(parsed.messages, now)
        await self.inbox.record_media(parsed.messages, now)
        for report in parsed.statuses:
            await self._status(report)
        duplicates = len(parsed.messages) - new
        if duplicates:
            metrics.INBOUND.labels("duplicate").inc(duplicates)
        published = await self.relay.publish([m.message_id for m in parsed.messages])
        return Receipt(
            len(parsed.messages), new, published, len(parsed.statuses), len(parsed.skipped)
        )

    async def _status(self, report: StatusReport) -> None:
        metrics.STATUSES.labels(report.status).inc()
        record = await self.sends.apply_status(report)
        if record is None:
            return
        log.info(
            "whatsapp delivery report",
            extra={
                "sendId": record.id,
                "ticketId": record.ticket_id,
                "status": report.status,
                "errors": [error.to_wire() for error in report.errors],
            },
        )
        self.reported()
