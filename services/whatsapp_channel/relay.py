"""Puts recorded inbound messages on `whatsapp.inbound`: at once from the webhook request,
and from a sweep for what a broker outage or a crash left pending.

Each message is claimed for a lease before it is published (persistent, confirmed) and
marked published after; a copy can reach the queue twice only when a process dies between
the confirm and the mark, and it carries the WhatsApp message id as its AMQP message id
(the assistant gateway answers a message id once).
"""

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from faststream.rabbit import RabbitBroker

from contracts import names
from infra.clock import Clock
from infra.due import DueWork
from infra.loops import every
from infra.messaging import command_queue
from services.whatsapp_channel import metrics
from services.whatsapp_channel.documents import InboxState
from services.whatsapp_channel.inbox import InboxStore

log = logging.getLogger(__name__)

INBOUND_QUEUE = command_queue(names.WHATSAPP_INBOUND)
"""Declared as the assistant gateway declares it (same arguments), so messages wait there
even before the gateway first ran."""
SWEEP_BATCH = 100


class BrokerUnavailable(Exception):
    """RabbitMQ did not confirm in time: the webhook answers 503 and Meta retries."""


@dataclass
class InboundRelay:
    inbox: InboxStore
    broker: RabbitBroker
    clock: Clock
    lease: timedelta
    publish_timeout: float
    grace: timedelta
    due: DueWork = field(init=False)
    """A pending message is due once received (the sweep: after `grace`); a claim holds it
    for `lease` while it is published."""

    def __post_init__(self) -> None:
        where = {"state": InboxState.PENDING}
        self.due = DueWork(self.inbox.inbox, due="receivedAt", lease="leaseUntil", where=where)

    async def declare(self) -> None:
        await self.broker.declare_queue(INBOUND_QUEUE)

    async def publish(self, message_ids: list[str]) -> int:
        """Publishes those still pending and not held by another worker; raises
        BrokerUnavailable after releasing the claim of the one that failed."""
        published = 0
        for message_id in message_ids:
            claimed = await self.due.claim_row(
                message_id, self.clock.now(), self.lease, due_by=None
            )
            if claimed is None:
                continue
            try:
                await self._publish(message_id, claimed.row["message"])
            except BrokerUnavailable:
                await self.due.release(claimed, self.clock.now())
                raise
            published_at = self.clock.now()
            fields = {"state": InboxState.PUBLISHED, "publishedAt": published_at}
            await self.due.complete(claimed, fields)
            metrics.INBOUND.labels("published").inc()
            published += 1
        return published

    async def _publish(self, message_id: str, message: dict[str, Any]) -> None:
        try:
            async with asyncio.timeout(self.publish_timeout):
                await self.broker.publish(
                    message,
                    queue=INBOUND_QUEUE,
                    persist=True,
                    message_id=message_id,
                    correlation_id=message_id,
                    content_type="application/json",
                )
        except Exception as error:
            detail = f"{type(error).__name__}: {error}"[:300]
            raise BrokerUnavailable(
                f"inbound message {message_id} not published: {detail}"
            ) from error

    async def sweep(self) -> int:
        now = self.clock.now()
        due_by = now - self.grace
        waiting = await self.due.candidates(now, SWEEP_BATCH, due_by=due_by, projection={"_id": 1})
        return await self.publish([str(doc["_id"]) for doc in waiting])

    async def run(self, interval: float, stop: asyncio.Event) -> None:
        await every(interval, stop, self._sweep_logged, "whatsapp-inbound-relay")

    async def _sweep_logged(self) -> None:
        """A broker outage fails the round: the loop logs it once, not every sweep."""
        if published := await self.sweep():
            log.info("pending inbound messages published", extra={"count": published})
